"""``make demo``: the whole learning loop offline, one resumable stage at a time.

tiny model -> tasks -> held-out pass@1 before -> SFT -> eval -> GRPO on test-only tasks ->
eval -> ``report.html``. The tasks are the learning benchmark's "scarce labels" set-up: SFT sees
every labelled one- and two-step task but only ``LABELLED_HARD`` three-step ones, while GRPO has
hundreds of three-step tasks with tests only, so the three-step score is where reward shows. Each stage writes its output under ``runs/demo`` and is skipped when
that output is already there, so a killed demo picks up where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from patchloop.rl.config import GRPORunConfig, SFTRunConfig, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FAMILIES = ["arith"]  # the family whose step count makes a clean difficulty ladder

LABELLED_HARD = 32  # as bench/learning.py --hard-labels

# Full demo: sized for < 30 min on 2 free cores (SFT's three-step score plateaus by step 800,
# docs/benchmarks.md). Quick: a smoke test of every stage (< 5 min).
PLANS = {
    "full": {"n": 2400, "sft": [],
             "grpo": ["train.max_steps=100"], "eval_tasks": 300},
    "quick": {"n": 240, "sft": ["train.max_steps=30", "train.save_steps=1000"],
              "grpo": ["train.max_steps=4", "train.per_device_train_batch_size=16", "num_generations=4"],
              "eval_tasks": 24},
}


def stage(console: Console, name: str, done: Callable[[], bool], run: Callable[[], object]) -> None:
    """Run one stage unless ``done()`` says its output is there already (a resumed demo)."""
    if done():
        console.print(f"[dim]- {name}: done earlier, skipped[/dim]")
        return
    console.print(f"[bold]- {name}[/bold]")
    t = time.monotonic()
    run()
    console.print(f"  {name} took {time.monotonic() - t:.0f}s")


def run_demo(out: str | Path = "runs/demo", *, quick: bool = False, backend: str = "auto",
             seed: int = 0, console: Console | None = None) -> dict:
    """Run (or resume) every stage; return the three headline figures."""
    from patchloop.datagen.functions import FunctionsConfig, scarce_labels
    from patchloop.datagen.run_functions import run_functions
    from patchloop.evals.training_report import write_report
    from patchloop.llm.catalog.tiny import init_tiny
    from patchloop.rl.evaluate import evaluate_model
    from patchloop.rl.grpo import run_grpo
    from patchloop.rl.sft import run_sft

    console = console or Console(soft_wrap=True)  # piped: long lines stay whole
    plan = PLANS["quick" if quick else "full"]
    out = Path(out)
    model_dir, tasks_dir = out / "model", out / "tasks"
    common = [f"data.path={tasks_dir}", f"train.seed={seed}", f"reward.backend={backend}"]
    sft_cfg = load_config(SFTRunConfig, CONFIGS / "tiny-cpu-sft.yaml",
                          [*common[:2], f"model.name_or_path={model_dir}", f"train.output_dir={out / 'sft'}",
                           f"data.level_caps={{3: {LABELLED_HARD}}}", *plan["sft"]])
    grpo_cfg = load_config(GRPORunConfig, CONFIGS / "tiny-cpu-grpo.yaml",
                           [*common, f"model.name_or_path={out / 'sft' / 'final'}",
                            f"train.output_dir={out / 'grpo'}", *plan["grpo"]])

    stage(console, "tiny model", lambda: (model_dir / "config.json").exists(),
           lambda: init_tiny(model_dir, seed=seed))
    stage(console, "tasks", lambda: (tasks_dir / "fingerprint.json").exists(),
           lambda: run_functions(FunctionsConfig(n=plan["n"], seed=seed, families=FAMILIES,
                                                 **scarce_labels(plan["n"], LABELLED_HARD)),
                                 tasks_dir, backend=backend, progress=True))

    def ev(model: Path, name: str) -> dict:
        console.print(f"- held-out pass@1: {name}")
        return evaluate_model(model, tasks_dir, out / "eval" / name, families=FAMILIES, backend=backend,
                              max_tasks=plan["eval_tasks"], max_new_tokens=grpo_cfg.max_completion_length,
                              seed=seed)

    before = ev(model_dir, "before")
    stage(console, "SFT", lambda: (out / "sft" / "DONE.json").exists(), lambda: run_sft(sft_cfg))
    after_sft = ev(out / "sft" / "final", "after_sft")
    stage(console, "GRPO", lambda: (out / "grpo" / "DONE.json").exists(), lambda: run_grpo(grpo_cfg))
    after_grpo = ev(out / "grpo" / "final", "after_grpo")
    evals = {"before SFT": before, "after SFT": after_sft, "after GRPO": after_grpo}
    report = write_report(out, evals, sft_metrics=out / "sft" / "metrics.jsonl",
                          grpo_metrics=out / "grpo" / "metrics.jsonl",
                          per_item={k: out / "eval" / d / "samples.jsonl"
                                    for k, d in zip(evals, ("before", "after_sft", "after_grpo"))})
    figures = {k: v["pass@1"] for k, v in evals.items()}
    (out / "figures.json").write_text(json.dumps({"pass@1": figures, "per_level": {
        k: v["per_level"] for k, v in evals.items()}}, indent=2))
    console.print(f"report: {report}")
    for k, v in figures.items():
        console.print(f"held-out pass@1 {k:>10}: {100 * v:5.1f}%  (per level: " + ", ".join(
            f"L{lv} {100 * p:.0f}%" for lv, p in evals[k]["per_level"].items()) + ")")
    return figures
