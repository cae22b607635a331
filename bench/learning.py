"""Proof of learning: does GRPO on test-only tasks add what more SFT cannot?

Per seed: tiny model -> arithmetic-composition tasks (datagen) -> SFT to convergence on the
labelled levels -> held-out pass@1. Then two arms start from the same SFT checkpoint and run
side by side, each with the same wall-clock budget (``--arm-wall-s``), so both see the same
machine load:
  GRPO     on test-only tasks (the preset: mostly three-step prompts, zero-variance groups dropped);
  control  more SFT on the labelled data.
Prints, per seed and on average: held-out pass@1 on the harder level(s) and on the SFT levels
(1-2), after SFT / after GRPO / control, plus GRPO's step time split into generation, reward
and optimisation. The SFT checkpoint at half length is scored too: if the second half of SFT
moved the harder level, the start was not converged and the control would keep gaining. Every
stage is resumable (rerun to continue; an arm killed midway resumes from its last checkpoint
with a fresh budget).

Two questions, one flag. ``--hard-labels K`` (default 32) asks about scarce labels: the SFT
data holds every labelled one- and two-step task but only K three-step ones, while test-only
three-step tasks stay plentiful (the situation datagen makes: tests are cheap, reference
solutions are not). The harder level is then three steps alone; four-step tasks are still
scored, on their own. ``--hard-labels 0`` asks about unseen lengths: SFT sees no three- or
four-step task at all, and the harder levels are 3-4.

    .venv/bin/python bench/learning.py --seeds 0,1,2                  # the full benchmark (~75 min)
    # faster: prepare the SFT starts one process per seed at once, then run the arms in turn
    for s in 0 1 2; do .venv/bin/python bench/learning.py --seeds $s --prepare-only & done; wait
    .venv/bin/python bench/learning.py --seeds 0,1,2
    .venv/bin/python bench/learning.py --hard-labels 0 --out runs/bench-learning-unseen
    .venv/bin/python bench/learning.py --seeds 0 --arm-wall-s 60 --n 600 --sft-steps 400 --eval-tasks 100   # a small look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from patchloop.rl.config import SFTRunConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SFT_LEVELS = ["1", "2"]


def hard_levels(args) -> list[str]:
    """The levels the goal is about: three and four steps when SFT sees none (unseen lengths);
    with ``--hard-labels`` only three steps, the level whose labels are scarce (four-step tasks
    then have neither labels nor GRPO prompts, and are reported on their own)."""
    return ["3"] if args.hard_labels else ["3", "4"]


def level_rate(summary: dict, levels: list[str]) -> float:
    """pass@1 over the given levels, weighted by their task counts."""
    per, n = summary["per_level"], summary["per_level_n"]
    tot = sum(n.get(lv, 0) for lv in levels)
    return sum(per.get(lv, 0.0) * n.get(lv, 0) for lv in levels) / tot if tot else float("nan")


def step_split(metrics: Path) -> dict[str, float]:
    recs = [json.loads(x) for x in metrics.read_text().splitlines() if '"reward"' in x] if metrics.exists() else []
    if not recs:
        return {}
    out = {k: statistics.mean(r[f"time/{k}"] for r in recs) for k in ("generation_s", "reward_s", "optimisation_s", "step_s")}
    out["steps"] = recs[-1]["step"]
    out["groups_kept"] = statistics.mean(r.get("groups_kept", 1.0) for r in recs)
    return out


def pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def _train_cmd(kind: str, preset: str, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "patchloop", "train", kind, "--config", str(CONFIGS / preset), *overrides]


def run_arms(arms: dict[str, list[str]], out: Path) -> None:
    """Start the unfinished arms together (one process each, one torch thread each) and wait."""
    procs = {}
    for name, cmd in arms.items():
        if (out / name / "DONE.json").exists():
            continue
        (out / name).mkdir(parents=True, exist_ok=True)
        log = open(out / name / "train.log", "ab")  # noqa: SIM115 (closed below, after the process ends)
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                        env=dict(os.environ, PYTHONUNBUFFERED="1")), log)
        print(f"  {name}: started ({out / name / 'train.log'})", flush=True)
    for name, (proc, log) in procs.items():
        rc = proc.wait()
        log.close()
        if rc != 0:
            raise SystemExit(f"{name} arm failed (exit {rc}); see {out / name / 'train.log'}")


def run_seed(seed: int, out: Path, args) -> dict:
    from patchloop.datagen.functions import FunctionsConfig, scarce_labels
    from patchloop.datagen.run_functions import run_functions
    from patchloop.llm.catalog.tiny import init_tiny
    from patchloop.rl.evaluate import evaluate_model
    from patchloop.rl.sft import run_sft

    model, tasks = out / "model", out / "tasks"
    if not (model / "config.json").exists():
        init_tiny(model, seed=seed)
    if not (tasks / "fingerprint.json").exists():
        extra = scarce_labels(args.n, args.hard_labels) if args.hard_labels else {}
        run_functions(FunctionsConfig(n=args.n, seed=seed, families=["arith"], **extra), tasks,
                      backend=args.backend, progress=False)
    if args.hard_labels:
        have = json.loads((tasks / "fingerprint.json").read_text())["levels"]["sft"].get("3", 0)
        if have < args.hard_labels:
            raise SystemExit(f"seed {seed}: only {have} labelled three-step tasks for --hard-labels "
                             f"{args.hard_labels}; raise --n")
    base = [f"data.path={tasks}", f"train.seed={seed}", "train.report_to=[]"]
    labels = [f"data.level_caps={{3: {args.hard_labels}}}"] if args.hard_labels else []
    half = args.sft_steps // 2
    if not (out / "sft" / "DONE.json").exists():
        # Checkpoints at half and full length are both kept: their scores show whether the SFT
        # start has converged on what it generalises, not just on the training loss.
        run_sft(load_config(SFTRunConfig, CONFIGS / "tiny-cpu-sft.yaml", [
            *base, *labels, f"model.name_or_path={model}", f"train.output_dir={out / 'sft'}",
            f"train.max_steps={args.sft_steps}", f"train.save_steps={half}", "train.save_total_limit=null"]))

    def ev(path: Path, name: str) -> dict:
        return evaluate_model(path, tasks, out / "eval" / name, families=["arith"], backend=args.backend,
                              max_tasks=args.eval_tasks, max_new_tokens=40, seed=seed)

    sft = ev(out / "sft" / "final", "sft")
    sft_half = ev(out / "sft" / f"checkpoint-{half}", "sft_half")
    if args.prepare_only:
        return {}
    start = f"model.name_or_path={out / 'sft' / 'final'}"
    budget = [f"train.max_wall_s={args.arm_wall_s}", "train.max_steps=100000", "train.save_steps=50"]
    run_arms({
        "grpo": _train_cmd("grpo", "tiny-cpu-grpo.yaml", [
            *base, start, f"reward.backend={args.backend}", f"train.output_dir={out / 'grpo'}", *budget,
            *args.grpo_set]),
        "control": _train_cmd("sft", "tiny-cpu-sft.yaml", [
            *base, *labels, start, f"train.output_dir={out / 'control'}", *budget, "train.learning_rate=3e-4",
            "train.lr_scheduler_type=constant", "train.warmup_steps=0"]),
    }, out)
    grpo, control = ev(out / "grpo" / "final", "grpo"), ev(out / "control" / "final", "control")
    row = {"seed": seed, "split": step_split(out / "grpo" / "metrics.jsonl")}
    for name, s in (("sft_half", sft_half), ("sft", sft), ("grpo", grpo), ("control", control)):
        row[f"hard_{name}"] = level_rate(s, hard_levels(args))
        row[f"easy_{name}"] = level_rate(s, SFT_LEVELS)
        row[f"l3_{name}"] = level_rate(s, ["3"])
        row[f"l4_{name}"] = level_rate(s, ["4"])
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-learning"))
    ap.add_argument("--n", type=int, default=2400, help="tasks per seed (all splits)")
    ap.add_argument("--sft-steps", type=int, default=1600, help="SFT start length (its half is scored too)")
    ap.add_argument("--arm-wall-s", type=float, default=420, help="training seconds for each arm (GRPO, control)")
    ap.add_argument("--eval-tasks", type=int, default=400)
    ap.add_argument("--hard-labels", type=int, default=32,
                    help="labelled three-step tasks in the SFT data (0: none, the unseen-length question)")
    ap.add_argument("--prepare-only", action="store_true",
                    help="stop after the SFT start and its scores (prepare seeds in parallel, then run the arms)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--grpo-set", nargs="*", default=[], help="extra GRPO overrides, e.g. beta=0.05")
    args = ap.parse_args(argv)
    rows = []
    for s in args.seeds.split(","):
        print(f"seed {s}", flush=True)
        rows.append(run_seed(int(s), args.out / f"seed{s}", args))
    if args.prepare_only:
        return 0
    hard = "L" + "-".join(hard_levels(args))
    groups = [(f"harder {hard}: SFT/2 SFT GRPO ctrl", "hard", ("sft_half", "sft", "grpo", "control")),
              ("L3: SFT GRPO ctrl", "l3", ("sft", "grpo", "control")),
              ("L4: SFT GRPO ctrl", "l4", ("sft", "grpo", "control")),
              ("SFT-level L1-2: SFT GRPO ctrl", "easy", ("sft", "grpo", "control"))]
    mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if k.startswith(("hard_", "easy_", "l3_", "l4_"))}

    def line(label: str, vals: dict, tail: str = "") -> str:
        return f"{label:>4} | " + " | ".join(" ".join(pct(vals[f"{g}_{a}"]) for a in arms) for _, g, arms in groups) + tail

    print("seed | " + " | ".join(h for h, _, _ in groups) + " | GRPO steps, groups kept | step s: gen / reward / optim")
    for r in rows:
        sp = r["split"]
        print(line(str(r["seed"]), r, " | " + (f"{sp['steps']:5d}, {100 * sp['groups_kept']:3.0f}% | "
                                                f"{sp['generation_s']:.2f} / {sp['reward_s']:.2f} / "
                                                f"{sp['optimisation_s']:.2f}" if sp else "-")))
    print(line("mean", mean))
    gain, drop = mean["hard_grpo"] - mean["hard_sft"], mean["easy_sft"] - mean["easy_grpo"]
    goals = {"hard +10 pts": gain >= 0.10, "SFT-level drop <= 2 pts": drop <= 0.02,
             "GRPO beats control on hard": mean["hard_grpo"] > mean["hard_control"]}
    print(f"gain on harder {hard} {100 * gain:+.1f} pts (SFT's second half {100 * (mean['hard_sft'] - mean['hard_sft_half']):+.1f}, "
          f"control {100 * (mean['hard_control'] - mean['hard_sft']):+.1f}), "
          f"SFT-level change {-100 * drop:+.1f} pts; goals: "
          + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in goals.items()))
    (args.out / "summary.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                        "rows": rows, "mean": mean, "goals": goals}, indent=2))
    return 0


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    sys.exit(main())
