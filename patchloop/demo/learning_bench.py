"""The pieces of ``bench/learning_real.py`` that hold logic: its plan, its refusal of mixed
settings, and the figures it reads back from the arms' own logs.

An *arm* is one method (GRPO, RFT, DPO) trained from the start model with one seed, by the
ordinary ``patchloop train`` command with the method's CPU preset, into ``OUT/<method>-seed<N>``.
Every arm gets the same training prompts (the same task directory, pool size and held-back
validation tasks) and the same wall-clock budget: GRPO's trainer stops at ``train.max_wall_s``;
RFT and DPO spend at most ``sample_share`` of it sampling and grading (``sampling.max_wall_s``),
the rest training. Nothing here loads a model.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchloop.demo.real import FAMILIES as REAL_FAMILIES
from patchloop.demo.tiny import CONFIGS

METHODS = ("grpo", "rft", "dpo")
REAL_MODEL = "qwen2.5-coder-0.5b-instruct"


@dataclass(frozen=True)
class ModelSpec:
    """How one start model is trained and measured. The real model's HumanEval settings are the
    ones of the full-HumanEval figure in docs/benchmarks.md (chat, 512 tokens, batch 16, greedy)."""

    families: list[str]
    prompt_format: str
    eval_tokens: int
    eval_batch: int = 16
    overrides: dict[str, list[str]] = field(default_factory=dict)  # per method, after the preset


MODELS = {
    REAL_MODEL: ModelSpec(REAL_FAMILIES, "chat", 512),
    # The project's tiny model: a test of the plumbing, not of learning (it passes nothing).
    "tiny": ModelSpec(["arith"], "completion", 24, overrides={
        m: ["model.dtype=float32", "train.bf16=false", "train.cpu_threads=1", "data.prompt_format=completion",
            "validation.max_tokens=24", "lora.r=4", *extra] for m, extra in {
            "grpo": ["max_completion_length=24"],
            "rft": ["sampling.max_new_tokens=24", "max_length=256"],
            "dpo": ["sampling.max_new_tokens=24", "max_length=256"]}.items()}),
}


def spec_for(model: str) -> ModelSpec:
    """The real model's settings for any catalog name or checkpoint, the tiny model's for ``tiny``."""
    return MODELS.get(model, MODELS[REAL_MODEL])


def tasks_dir(args) -> Path:
    """Where the arms' training prompts come from: ``--data`` (a cleaned datagen output), or the
    procedural tasks the bench makes under OUT."""
    return Path(args.data) if getattr(args, "data", None) else Path(args.out) / "tasks"


def data_identity(args) -> dict[str, str] | None:
    """``--data`` as the settings record it: its path and the SHA-256 of its task file, so a run
    on other (or edited) data is refused rather than mixed into the same OUT."""
    if not getattr(args, "data", None):
        return None
    from patchloop.types import sha256_file

    p = Path(args.data)
    task_file = p if p.is_file() else p / "tasks.jsonl"
    return {"path": str(p), "sha256": sha256_file(task_file) if task_file.is_file() else "missing"}


def settings_of(args) -> dict[str, Any]:
    """What every arm in one OUT must share; methods and seeds only choose which arms run."""
    data = data_identity(args)
    return {"model": args.model, "tasks": None if data else args.tasks, "data": data, "pool": args.pool, "validation": args.validation,
            "arm_wall_s": args.arm_wall_s, "sample_share": args.sample_share,
            "humaneval_limit": args.humaneval_limit, "backend": args.backend, "set": list(args.set)}


def check_settings(out: Path, settings: dict[str, Any], *, write: bool) -> str | None:
    """The one-line refusal when ``out`` was made with other settings (None: fine); with
    ``write``, record the settings for the next run to be checked against."""
    path = out / "bench-settings.json"
    if path.exists():
        before = json.loads(path.read_text())
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if changed:
            diff = ", ".join(f"{k} {before.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            return f"{out} holds a run with other settings ({diff}); use another --out or the same settings"
    if write:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2))
    return None


def arm_name(method: str, seed: int) -> str:
    return f"{method}-seed{seed}"


def arm_command(method: str, seed: int, args, out: Path, model_path: str, *, validate_start: bool) -> list[str]:
    """``patchloop train <method>`` with its preset and the overrides that make arms comparable."""
    spec = spec_for(args.model)
    budget = float(args.arm_wall_s)
    backend = "reward.backend" if method == "grpo" else "grader.backend"
    common = [f"model.name_or_path={model_path}", f"data.path={tasks_dir(args)}", f"data.max_samples={args.pool}",
              f"data.validation_size={args.validation}",
              f"train.output_dir={out / arm_name(method, seed)}", f"train.seed={seed}", "train.report_to=[]",
              f"{backend}={args.backend}", f"validation.before={str(validate_start).lower()}"]
    if method == "grpo":
        timing = [f"train.max_wall_s={budget:g}", "train.max_steps=1000000", "train.save_steps=10"]
    else:
        sample_s = budget * args.sample_share
        timing = [f"sampling.seed={seed}", f"sampling.max_wall_s={sample_s:g}",
                  f"train.max_wall_s={budget - sample_s:g}"]
    preset = CONFIGS / f"qwen0.5b-cpu-{method}.yaml"
    return [sys.executable, "-m", "patchloop", "train", method, "--config", str(preset), *common, *timing,
            *spec.overrides.get(method, []), *args.set]


# ---- reading back what the arms wrote ----------------------------------------------------------

def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip().endswith("}")]


def _mean(recs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in recs if isinstance(r.get(key), (int, float))]
    return round(statistics.mean(vals), 4) if vals else None


def _train_time(recs: list[dict]) -> tuple[float | None, int]:
    """(seconds in the trainer, optimiser steps) from a JSONL metrics log."""
    end = [r for r in recs if "train_runtime" in r]
    steps = max((r.get("step", 0) for r in recs), default=0)
    return (round(end[-1]["train_runtime"], 1) if end else None), steps


def arm_figures(arm_dir: Path, method: str) -> dict[str, Any]:
    """The cost split and the training diagnostics of one finished arm, from its own logs."""
    recs = _jsonl(arm_dir / "metrics.jsonl")
    train_s, steps = _train_time(recs)
    out: dict[str, Any] = {"steps": steps, "train_s": train_s}
    if method == "grpo":
        step = [r for r in recs if "time/step_s" in r]
        out["time"] = {k: round(sum(r.get(f"time/{k}", 0.0) for r in step), 1)
                       for k in ("generation_s", "reward_s", "optimisation_s", "step_s")}
        out["time"]["grading_s"] = out["time"].pop("reward_s")
        out["time_per_step"] = {k: round(v / max(1, len(step)), 2) for k, v in out["time"].items()}
        keys = {"reward": "reward", "reward_std": "reward_std", "groups_kept": "groups_kept",
                "zero_std_groups": "frac_reward_zero_std", "clip_ratio": "clip_ratio/region_mean",
                "kl": "kl", "completion_tokens": "completions/mean_length",
                "truncated": "completions/clipped_ratio", "entropy": "entropy"}
        out["diagnostics"] = {name: _mean(step, key) for name, key in keys.items()}
        return out
    samples = _jsonl(arm_dir / "samples.jsonl")
    out["time"] = {"generation_s": round(sum(r.get("generation_s", 0.0) for r in samples), 1),
                   "grading_s": round(sum(r.get("grading_s", 0.0) for r in samples), 1),
                   "optimisation_s": train_s}
    done = [s for r in samples for s in r["samples"]]
    yld = json.loads((arm_dir / "yield.json").read_text()) if (arm_dir / "yield.json").exists() else {}
    out["diagnostics"] = {"prompts_sampled": len(samples), "sample_pass_rate":
                          round(sum(s["passed"] for s in done) / len(done), 4) if done else None,
                          "completion_chars": round(statistics.mean(len(s["completion"]) for s in done), 1)
                          if done else None, **yld,
                          "loss_first": next((r["loss"] for r in recs if "loss" in r), None),
                          "loss_last": next((r["loss"] for r in reversed(recs) if "loss" in r), None)}
    if method == "dpo":
        for name, key in (("margin", "rewards/margins"), ("pair_accuracy", "rewards/accuracies")):
            out["diagnostics"][name] = _mean(recs, key)
    return out


def validation(arm_dir: Path, when: str) -> float | None:
    path = arm_dir / f"validation-{when}.json"
    return json.loads(path.read_text())["pass@1"] if path.exists() else None


# ---- statistics --------------------------------------------------------------------------------

def se_of_mean(xs: list[float]) -> float:
    return statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")


def method_score(start: dict[str, bool], seeds: list[dict[str, bool]]) -> dict[str, Any]:
    """pass@1 over the seeds, and its paired change against the start model with a standard
    error over problems and seeds: per problem, the change averaged over seeds; SE² = (SE over
    problems of that)² + (seed-to-seed variance of pass@1) / seeds."""
    ids = sorted(start)
    per_seed = [sum(s[t] for t in ids) / len(ids) for s in seeds]  # floats, in JSON too
    change = [statistics.mean(float(s[t]) for s in seeds) - start[t] for t in ids]
    means = [statistics.mean(float(s[t]) for s in seeds) for t in ids]
    seed_var = statistics.variance(per_seed) / len(seeds) if len(seeds) > 1 else 0.0
    return {"pass@1": statistics.mean(per_seed), "se": math.sqrt(se_of_mean(means) ** 2 + seed_var),
            "change": statistics.mean(change), "change_se": math.sqrt(se_of_mean(change) ** 2 + seed_var),
            "per_seed": per_seed, "seeds": len(seeds)}


def goal(methods: dict[str, dict]) -> dict[str, Any]:
    """The goal of issue 15 per method: >= 5 points over the start, more than twice its SE, and
    above RFT at equal time (RFT is the control, so it cannot meet it itself)."""
    rft = methods.get("rft")
    verdict = {}
    for m, s in methods.items():
        checks = {"+5 points": s["change"] >= 0.05, "> 2 SE": s["change"] > 2 * s["change_se"],
                  "beats RFT": m != "rft" and rft is not None and s["pass@1"] > rft["pass@1"]}
        verdict[m] = {"checks": checks, "met": all(checks.values())}
    return {"per_method": verdict, "met": any(v["met"] for v in verdict.values())}
