"""Learning that shows: RL on repair of real code, judged on packages the model never trained on,
with HumanEval as the guard against forgetting. Staged: each stage commits a small record
under ``bench/results/learning-repair/`` and ``report`` builds the table from records alone.

  tasks              the repair dataset (``--data``, default ``data/repair``, made by
                     ``patchloop datagen repair``): its card's fingerprint, >= 300 training rows
                     from >= 6 packages, >= 100 held-out rows from >= 3 other packages, held-out
                     packages named nowhere in the project, no HumanEval contamination.
  start              the start model on the held-out rows: greedy pass@1, pass@4 at T=0.8
                     (4 replies a task: how often a GRPO group of 4 sees any reward), and greedy
                     HumanEval pass@1. One engine, one dtype for every stage (refused otherwise).
  arm METHOD --seed  train METHOD from ``configs/qwen0.5b-cpu-repair-<METHOD>.yaml`` on the
                     training rows within ``--wall-s`` (spent time kept across restarts: a killed
                     arm resumes from its checkpoint with what is left), then held-out greedy
                     pass@1 and HumanEval as in ``start``, the adapter merged into the engine.
  report             ``report.json``: start, each arm's pass@1 and paired delta (SE over tasks
                     and seeds), HumanEval the same, wall time, steps, machine and engine.

    .venv/bin/python bench/learning_repair.py tasks
    .venv/bin/python bench/learning_repair.py start            # ~40 min on a 2-core AMX machine
    .venv/bin/python bench/learning_repair.py arm grpo --seed 0
    .venv/bin/python bench/learning_repair.py report

Methods wired to repair rows: GRPO (``data.kind: repair``). Goal (learning issue): a method
raises held-out repair pass@1 by >= 15 points, > 2 SE, above RFT at equal time, HumanEval
within one SE of the start.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "learning-repair"
MODEL = "qwen2.5-coder-0.5b-instruct"
METHODS = ("grpo",)
MIN_ROWS = {"train": (300, 6), "heldout": (100, 3)}
SAME = ["settings.data", "settings.max_new_tokens", "settings.heldout_limit", "settings.humaneval_limit",
        "engine.engine", "engine.dtype"]


def check_tasks(args) -> dict:
    """The dataset's card figures, or SystemExit naming what falls short."""
    rec = json.loads((Path(args.data) / "fingerprint.json").read_text())
    counts = {s: rec["counts"].get(s, {}) for s in ("train", "validation", "heldout")}
    short = [f"{split}: {sum(counts[split].values())} rows from {len(counts[split])} packages (want >= {n} from "
             f">= {p})" for split, (n, p) in MIN_ROWS.items()
             if sum(counts[split].values()) < n or len(counts[split]) < p]
    named = rec["checks"].get("named_by_project", {})
    if named:
        short.append(f"held-out packages the project names: {named}")
    if rec["checks"]["humaneval"]["contaminated"]:
        short.append(f"{rec['checks']['humaneval']['contaminated']} rows contaminated by HumanEval")
    if short and not args.allow_small:
        raise SystemExit("tasks: " + "; ".join(short))
    return {"fingerprint": rec["fingerprint"], "counts": counts, "checks": rec["checks"], "short": short,
            "local_paths": len(rec.get("local_paths", {}))}


def check_portable(args, per_split: int = 2) -> list[str]:
    """Check out the first rows of each split from their instance alone (no repository beside
    the data): the rows a later machine trains and grades on must rebuild there."""
    import tempfile

    from patchloop.evals.repair import repair_task
    from patchloop.evals.repair_run import load_rows
    from patchloop.evals.repos import checkout_task_repo, git

    built = []
    for split in ("train", "heldout"):
        for row in load_rows(Path(args.data) / f"{split}.jsonl")[:per_split]:
            task = repair_task(row["instance"])
            with tempfile.TemporaryDirectory() as tmp:
                head = git(checkout_task_repo(task, Path(tmp) / "repo"), "rev-parse", "HEAD")
            if head != task.base_commit:
                raise SystemExit(f"tasks: {row['instance_id']} checks out at {head}, not {task.base_commit}")
            built.append(row["instance_id"])
    return built


def heldout_rows(args) -> list[dict]:
    from patchloop.evals.repair_run import load_rows

    rows = load_rows(Path(args.data) / "heldout.jsonl", on_error=lambda e: print(f"skipped: {e}"))
    return rows[: args.limit] if args.limit else rows


def humaneval(gen, model: str, out: Path, args) -> dict[str, bool]:
    """Greedy HumanEval pass@1 per problem on the open engine (chat prompt, 512 tokens)."""
    from patchloop.evals.func.evaluate import evaluate_function_samples, load_func_problems
    from patchloop.evals.func.sample import sample_completions

    problems = load_func_problems("humaneval")
    if args.humaneval_limit:
        problems = dict(list(problems.items())[: args.humaneval_limit])
    sample_completions(model, list(problems.values()), out / "samples.jsonl", prompt_format="chat",
                       max_new_tokens=512, generator=gen)
    evaluate_function_samples(problems, out / "samples.jsonl", out_dir=out / "graded", ks=[1], backend=args.backend,
                              progress=True)
    graded = [json.loads(x) for x in (out / "graded" / "results.jsonl").read_text().splitlines() if x.strip()]
    if any(g.get("infra_error") for g in graded):
        raise SystemExit(f"{out}: HumanEval not graded ({graded[0].get('detail')}); fix it and rerun the stage")
    return {g["task_id"]: g["status"] == "PASSED" for g in graded}


def measure(model: str, run: Path, args, *, sampled: bool) -> tuple[dict, dict, dict]:
    """(held-out figures, HumanEval per problem, engine info) for ``model`` on one engine."""
    from patchloop.evals.repair_run import evaluate_repair
    from patchloop.llm.generation.engines import open_generator

    rows = heldout_rows(args)
    gen = open_generator(args.engine, model, log_dir=run / "engine")
    try:
        kw = {"generator": gen, "backend": args.backend, "workers": args.workers, "max_new_tokens": args.max_new_tokens}
        greedy = evaluate_repair(model, rows, run / "heldout-greedy", **kw)
        held = {"greedy": greedy}
        if sampled:
            held["sampled"] = evaluate_repair(model, rows, run / "heldout-t0.8", n_samples=4, temperature=0.8, **kw)
        he = humaneval(gen, model, run / "humaneval", args)
    finally:
        gen.close()
    for name, s in held.items():
        if s["ungraded"]:
            raise SystemExit(f"{run}: {len(s['ungraded'])} held-out tasks not graded ({name}); rerun the stage")
    return held, he, gen.info


def write(args, stage: str, held: dict, he: dict, info: dict, wall_s: float, extra: dict | None = None) -> Path:
    from patchloop.evals.stages import write_stage

    greedy = held["greedy"]
    figures = {"pass1": greedy["pass@1"], "humaneval_pass1": sum(he.values()) / len(he), "tasks": greedy["tasks"],
               "verdicts": greedy["verdicts"], **(extra or {})}
    if "sampled" in held:
        figures |= {"sampled_pass1": held["sampled"]["pass@1"], "sampled_pass4": held["sampled"].get("pass@4"),
                    "sampled_verdicts": held["sampled"]["verdicts"]}
    items = {"heldout": {t: nc[1] for t, nc in greedy["per_task"].items()},
             "humaneval": {t: int(v) for t, v in sorted(he.items())}}
    if "sampled" in held:
        items["heldout_sampled"] = held["sampled"]["per_task"]
    settings = {"data": check_tasks(args)["fingerprint"], "max_new_tokens": args.max_new_tokens,
                "heldout_limit": args.limit, "humaneval_limit": args.humaneval_limit, "model": MODEL}
    path = write_stage(args.results, "learning-repair", stage, settings=settings, engine=info, figures=figures,
                       items=items, wall_s=round(wall_s, 1))
    print(f"{stage}: {json.dumps(figures)} -> {path}")
    return path


def stage_tasks(args) -> None:
    from patchloop.evals.stages import write_stage

    fig = check_tasks(args)
    fig["rebuilt_from_instance"] = check_portable(args)
    path = write_stage(args.results, "learning-repair", "tasks", settings={"data": fig["fingerprint"]}, engine=None,
                       figures=fig, items=[])
    print(f"tasks: {json.dumps(fig['counts'])} -> {path}")


def stage_start(args) -> None:
    t0 = time.monotonic()
    held, he, info = measure(args.model, Path(args.runs) / "start", args, sampled=True)
    write(args, "start", held, he, info, time.monotonic() - t0)


def stage_arm(args) -> None:
    """Train within the wall budget (kept across restarts), then measure as ``start`` did."""
    from patchloop.demo.learning_bench import arm_figures
    from patchloop.evals.stages import WallBudget

    name = f"{args.method}-seed{args.seed}"
    run = Path(args.runs) / name
    budget = WallBudget(run / "wall_budget.json", args.wall_s)
    preset = ROOT / "configs" / f"qwen0.5b-cpu-repair-{args.method}.yaml"
    cmd = [sys.executable, "-m", "patchloop", "train", args.method, "--config", str(preset),
           f"data.path={args.data}", f"train.output_dir={run / 'train'}", f"train.seed={args.seed}",
           f"train.max_wall_s={max(1.0, budget.left()):.0f}", f"reward.backend={args.backend}"]
    if budget.left() > 0 and not (run / "train" / "final").exists():
        proc = subprocess.Popen(cmd)
        while proc.poll() is None:
            time.sleep(30)  # keep the spent time on disk: a kill loses at most this much
            budget.save()
        budget.save()
        if proc.returncode:
            raise SystemExit(f"{name}: training exited {proc.returncode}; rerun the stage to resume it")
    trained = budget.spent()
    t0 = time.monotonic()
    held, he, info = measure(str(run / "train"), run / "eval", args, sampled=False)
    figs = arm_figures(run / "train", args.method)
    write(args, name, held, he, info, trained + time.monotonic() - t0,
          {"train_wall_s": round(trained, 1), "steps": figs.get("steps"), "diagnostics": figs.get("diagnostics"),
           "method": args.method, "seed": args.seed})


def report(args) -> dict:
    from patchloop.demo.learning_bench import method_score
    from patchloop.evals.stages import read_stages, require_same

    results = Path(args.results)
    records = read_stages(results)
    measured = {k: v for k, v in records.items() if k != "tasks"}
    if "start" not in measured:
        raise SystemExit(f"no start record under {results}: run the start stage first")
    require_same(measured, SAME)
    start = measured["start"]
    out = {"start": {"pass1": start["figures"]["pass1"], "pass4_t0.8": start["figures"].get("sampled_pass4"),
                     "humaneval_pass1": start["figures"]["humaneval_pass1"]},
           "arms": {}, "humaneval": {"start": start["figures"]["humaneval_pass1"]},
           "machine": start["machine"], "engine": {k: start["engine"].get(k) for k in ("engine", "dtype")}}
    for method in sorted({r["figures"].get("method") for r in measured.values()} - {None}):
        seeds = [r for r in measured.values() if r["figures"].get("method") == method]
        rep = method_score(_bools(start["items"]["heldout"]), [_bools(r["items"]["heldout"]) for r in seeds])
        he = method_score(_bools(start["items"]["humaneval"]), [_bools(r["items"]["humaneval"]) for r in seeds])
        out["arms"][method] = {"pass1": rep["pass@1"], "delta": rep["change"], "delta_se": rep["change_se"],
                               "seeds": len(seeds), "wall_s": max(r["wall_s"] for r in seeds),
                               "steps": [r["figures"].get("steps") for r in seeds]}
        out["humaneval"][method] = {"pass1": he["pass@1"], "delta": he["change"], "delta_se": he["change_se"]}
    (results / "report.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return out


def _bools(items: dict) -> dict[str, bool]:
    return {k: bool(v) for k, v in items.items()}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["tasks", "start", "arm", "report"])
    ap.add_argument("method", nargs="?", choices=METHODS, default="grpo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=str(ROOT / "data" / "repair"))
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--wall-s", type=float, default=4500.0, help="an arm's training budget (default 75 min)")
    ap.add_argument("--max-new-tokens", type=int, default=768)
    ap.add_argument("--limit", type=int, default=None, help="only the first N held-out rows (a plumbing check)")
    ap.add_argument("--humaneval-limit", type=int, default=None)
    ap.add_argument("--allow-small", action="store_true", help="accept a dataset under the issue's minimums")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--runs", default="runs/bench/learning-repair")
    ap.add_argument("--results", default=str(RESULTS), help="where stage records go (committed ones by default)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    {"tasks": stage_tasks, "start": stage_start, "arm": stage_arm, "report": report}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
