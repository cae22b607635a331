"""Proof of learning: does GRPO on test-only tasks add what more SFT cannot?

Per seed: tiny model -> arithmetic-composition tasks (datagen) -> SFT to convergence on the
labelled levels 1-2 -> held-out pass@1. Then two arms from the same SFT checkpoint:
  GRPO     on test-only tasks (the preset's curriculum: levels 2-3), ``--grpo-steps`` steps;
  control  more SFT on the labelled data for the SAME wall time GRPO took.
Prints, per seed and on average: held-out pass@1 on the harder levels (3-4, never labelled)
and on the SFT levels (1-2), after SFT / after GRPO / control, plus GRPO's step time split
into generation, reward and optimisation. Every stage is resumable (rerun to continue).

    .venv/bin/python bench/learning.py --seeds 0,1,2            # the full benchmark
    .venv/bin/python bench/learning.py --seeds 0 --grpo-steps 20 --n 1200   # a small look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from patchloop.rl.config import GRPORunConfig, SFTRunConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SFT_LEVELS, HARD_LEVELS = ["1", "2"], ["3", "4"]


def level_rate(summary: dict, levels: list[str]) -> float:
    """pass@1 over the given levels, weighted by their task counts."""
    per, n = summary["per_level"], summary["per_level_n"]
    tot = sum(n.get(lv, 0) for lv in levels)
    return sum(per.get(lv, 0.0) * n.get(lv, 0) for lv in levels) / tot if tot else float("nan")


def step_split(metrics: Path) -> dict[str, float]:
    recs = [json.loads(x) for x in metrics.read_text().splitlines() if '"reward"' in x]
    keys = ("generation_s", "reward_s", "optimisation_s", "step_s")
    return {k: statistics.mean(r[f"time/{k}"] for r in recs) for k in keys} if recs else {}


def pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def run_seed(seed: int, out: Path, args) -> dict:
    from patchloop.datagen.functions import FunctionsConfig
    from patchloop.datagen.run_functions import run_functions
    from patchloop.llm.tiny import init_tiny
    from patchloop.rl.evaluate import evaluate_model
    from patchloop.rl.grpo import run_grpo
    from patchloop.rl.sft import run_sft

    model, tasks = out / "model", out / "tasks"
    if not (model / "config.json").exists():
        init_tiny(model, seed=seed)
    if not (tasks / "fingerprint.json").exists():
        run_functions(FunctionsConfig(n=args.n, seed=seed, families=["arith"]), tasks, backend=args.backend,
                      progress=False)
    base = [f"data.path={tasks}", f"train.seed={seed}", "train.report_to=[]"]
    if not (out / "sft" / "DONE.json").exists():
        run_sft(load_config(SFTRunConfig, CONFIGS / "tiny-cpu-sft.yaml", [
            *base, f"model.name_or_path={model}", f"train.output_dir={out / 'sft'}",
            f"train.max_steps={args.sft_steps}"]))

    def ev(path: Path, name: str) -> dict:
        return evaluate_model(path, tasks, out / "eval" / name, families=["arith"], backend=args.backend,
                              max_tasks=args.eval_tasks, max_new_tokens=40, seed=seed)

    sft = ev(out / "sft" / "final", "sft")
    wall_file = out / "grpo_wall_s.json"
    if not (out / "grpo" / "DONE.json").exists():
        t = time.monotonic()
        run_grpo(load_config(GRPORunConfig, CONFIGS / "tiny-cpu-grpo.yaml", [
            *base, f"reward.backend={args.backend}", f"model.name_or_path={out / 'sft' / 'final'}",
            f"train.output_dir={out / 'grpo'}", f"train.max_steps={args.grpo_steps}", *args.grpo_set]))
        wall_file.write_text(json.dumps({"wall_s": time.monotonic() - t}))
    grpo = ev(out / "grpo" / "final", "grpo")
    wall = json.loads(wall_file.read_text())["wall_s"] if wall_file.exists() else 0.0
    if not (out / "control" / "DONE.json").exists():
        run_sft(load_config(SFTRunConfig, CONFIGS / "tiny-cpu-sft.yaml", [
            *base, f"model.name_or_path={out / 'sft' / 'final'}", f"train.output_dir={out / 'control'}",
            "train.num_train_epochs=1000", f"train.max_wall_s={wall}", "train.learning_rate=3e-4",
            "train.lr_scheduler_type=constant", "train.warmup_steps=0"]))
    control = ev(out / "control" / "final", "control")
    return {"seed": seed, "grpo_wall_s": wall, "split": step_split(out / "grpo" / "metrics.jsonl"),
            **{f"hard_{k}": level_rate(v, HARD_LEVELS) for k, v in (("sft", sft), ("grpo", grpo), ("control", control))},
            **{f"easy_{k}": level_rate(v, SFT_LEVELS) for k, v in (("sft", sft), ("grpo", grpo), ("control", control))}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-learning"))
    ap.add_argument("--n", type=int, default=2400, help="tasks per seed (all splits)")
    ap.add_argument("--sft-steps", type=int, default=400)
    ap.add_argument("--grpo-steps", type=int, default=150)
    ap.add_argument("--eval-tasks", type=int, default=400)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--grpo-set", nargs="*", default=[], help="extra GRPO overrides, e.g. beta=0.05")
    args = ap.parse_args(argv)
    rows = [run_seed(int(s), args.out / f"seed{s}", args) for s in args.seeds.split(",")]
    print(f"{'seed':>4} | hard L3-4: SFT  GRPO  ctrl | SFT-level L1-2: SFT  GRPO  ctrl | GRPO wall s | "
          "step s: gen / reward / optim")
    for r in rows:
        sp = r["split"]
        print(f"{r['seed']:>4} | {pct(r['hard_sft'])} {pct(r['hard_grpo'])} {pct(r['hard_control'])} | "
              f"{pct(r['easy_sft'])} {pct(r['easy_grpo'])} {pct(r['easy_control'])} | {r['grpo_wall_s']:8.0f} | "
              + (f"{sp['generation_s']:.2f} / {sp['reward_s']:.2f} / {sp['optimisation_s']:.2f}" if sp else "-"))
    mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if k.startswith(("hard_", "easy_"))}
    print(f"mean | {pct(mean['hard_sft'])} {pct(mean['hard_grpo'])} {pct(mean['hard_control'])} | "
          f"{pct(mean['easy_sft'])} {pct(mean['easy_grpo'])} {pct(mean['easy_control'])}")
    gain, drop = mean["hard_grpo"] - mean["hard_sft"], mean["easy_sft"] - mean["easy_grpo"]
    goals = {"hard +10 pts": gain >= 0.10, "SFT-level drop <= 2 pts": drop <= 0.02,
             "GRPO beats control on hard": mean["hard_grpo"] > mean["hard_control"]}
    print(f"gain on hard {100 * gain:+.1f} pts, SFT-level change {-100 * drop:+.1f} pts; goals: "
          + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in goals.items()))
    (args.out / "summary.json").write_text(json.dumps({"rows": rows, "mean": mean, "goals": goals}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
