"""A GRPO step of the 0.5B, split into generation, weight sync, grading and optimisation,
for TRL's own sampling and for each engine of the generation interface, side by side.

The step is the engine issue's: 8 prompts x 4 completions of <= 512 tokens, LoRA r=16 on all
linear layers, chat prompts of procedural function tasks (``datagen functions``, made once
under the run directory), graded in the sandbox. Each engine is one stage writing
``bench/results/grpo-step/<machine kind>/<stage>.json``; the first step of a run is left out of the figures
(it pays for loading, compiling and the engine's first requests), the median of the rest is
reported.

    .venv/bin/python bench/grpo_step.py run --engines trl,vllm --steps 3
    .venv/bin/python bench/grpo_step.py report

Goal (engine issue): <= 60 s a step on an AMX machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "grpo-step"
PRESET = ROOT / "configs" / "qwen0.5b-cpu-grpo.yaml"


def tasks(runs: Path) -> Path:
    out = runs / "tasks"
    if not (out / "hf").exists():
        subprocess.run([sys.executable, "-m", "patchloop", "datagen", "functions", "--n", "120", "--out", str(out),
                        "--families", "arith,list,string", "--no-progress"], check=True)
    return out


def run_stage(args, engine: str) -> Path:

    runs = Path(args.runs)
    name = f"grpo-{engine}" + (f"-{args.sync}" if engine not in ("trl",) else "")
    out = runs / name
    if out.exists():
        import shutil

        shutil.rmtree(out)  # a stage times whole steps from a cold start: never resumed
    overrides = [f"engine={engine}", f"weight_sync={args.sync}", f"data.path={tasks(runs)}", f"train.output_dir={out}",
                 f"train.max_steps={args.steps}", "train.per_device_train_batch_size=4",
                 "train.gradient_accumulation_steps=8", "num_generations=4",
                 "max_completion_length=512", "lora.r=16", "lora.alpha=32", "validation.before=false",
                 "data.validation_size=0", "train.save_steps=1000", "train.report_to=[]",
                 "reward.backend=" + args.backend]
    # 32 completions a step in 8 micro-batches of 4 (one group each, as the config requires): the
    # logits of a micro-batch (151,936-token vocabulary, float32, with log-softmax and gradients)
    # grow with its rows; batches of 32 and then of 8 were killed for memory beside the engine on
    # a 24 GiB machine. vLLM's KV cache of 1 GiB holds 87k tokens.
    cmd = [sys.executable, "-m", "patchloop", "train", "grpo", "--config", str(PRESET), *overrides]
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    t0 = time.monotonic()
    subprocess.run(cmd, check=True)
    wall = time.monotonic() - t0
    (out / "run_wall_s.json").write_text(json.dumps({"run_wall_s": wall}))
    return record_stage(args, engine, name, out, wall)


def finish(args, engine: str) -> Path:
    """``finish``: the record of a run that trained (its figures derived again from its log)."""
    name = args.name or f"grpo-{engine}" + (f"-{args.sync}" if engine != "trl" else "")
    out = Path(args.runs) / name
    saved = out / "run_wall_s.json"
    wall = json.loads(saved.read_text())["run_wall_s"] if saved.exists() else args.run_wall_s
    return record_stage(args, engine, name, out, wall)


def record_stage(args, engine: str, name: str, out: Path, wall: float | None) -> Path:
    from patchloop.evals.stages import write_stage
    from patchloop.llm.generation.engines import machine_info

    # a step's record, not the closing log line (it carries zeroed timers and no reward)
    steps = [s for s in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
             if s.get("time/step_s") and "reward" in s]
    timed = steps[1:] or steps
    med = {k: round(statistics.median(s.get(f"time/{k}", 0.0) for s in timed), 1)
           for k in ("step_s", "generation_s", "sync_s", "is_s", "reward_s", "optimisation_s")}
    med["sampling_s"] = round(med["generation_s"] - med["sync_s"] - med["is_s"], 1)
    engine_info = {"engine": engine, "weight_sync": None if engine == "trl" else args.sync, "machine": machine_info()}
    settings = {"prompts": 8, "completions_per_prompt": 4, "max_completion_length": 512, "lora_r": 16,
                "preset": PRESET.name, "steps": args.steps}
    items = [{"step": s.get("step"), **{k: s.get(f"time/{k}") for k in ("step_s", "generation_s", "sync_s", "is_s",
                                                                         "reward_s", "optimisation_s")},
              **{k: v for k, v in s.items() if k.startswith("sampling/")},
              "reward": s.get("reward"), "completion_length": s.get("completions/mean_length")} for s in steps]
    path = write_stage(RESULTS / engine_info["machine"]["kind"], "grpo-step", name, settings=settings, engine=engine_info,
                       figures={"median_step": med, "steps_timed": len(timed),
                                "run_wall_s": None if wall is None else round(wall, 1)},
                       items=items, wall_s=None if wall is None else round(wall, 1))
    print(f"{name}: {json.dumps(med)} -> {path}")
    return path


def report(_args=None) -> None:
    """One table per machine kind (``bench/results/grpo-step/<kind>/``)."""
    from patchloop.evals.stages import read_stages

    for kind in sorted(d for d in RESULTS.iterdir() if d.is_dir()):
        kind_report(read_stages(kind))


def kind_report(records: dict) -> None:
    from patchloop.evals.stages import require_same

    require_same(records, ["settings", "machine.kind", "machine.cpu"])
    machine = next(iter(records.values()))["machine"]
    print(f"machine: {machine.get('cpu')} ({machine.get('kind')}, {machine.get('cores')} cores)")
    base = records.get("grpo-trl", {}).get("figures", {}).get("median_step", {}).get("step_s")
    print("stage | step_s | sampling_s | sync_s | is_s | reward_s | optimisation_s | speedup vs trl")
    for name, r in sorted(records.items()):
        m = r["figures"]["median_step"]
        ratio = round(base / m["step_s"], 2) if base and m["step_s"] else None
        print(f"{name} | {m['step_s']} | {m['sampling_s']} | {m['sync_s']} | {m.get('is_s')} | {m['reward_s']} | "
              f"{m['optimisation_s']}"
              f" | {ratio}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["stage", "finish", "run", "report"])
    ap.add_argument("engine", nargs="?", default="vllm")
    ap.add_argument("--engines", default="trl,vllm")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--name", default=None, help="finish: the run's folder and record name (default from engine and sync)")
    ap.add_argument("--run-wall-s", type=float, default=None, help="finish: the run's wall time, if not saved")
    ap.add_argument("--sync", default="auto", choices=["auto", "adapter", "merged"],
                    help="engine stages: how each step's policy reaches the engine (weight_sync)")
    ap.add_argument("--runs", default="runs/bench/grpo-step")
    args = ap.parse_args(argv)
    if args.what == "stage":
        run_stage(args, args.engine)
    elif args.what == "finish":
        finish(args, args.engine)
    elif args.what == "run":
        for e in args.engines.split(","):
            run_stage(args, e.strip())
    if args.what != "stage":
        report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
