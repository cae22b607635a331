"""Learning on the real model: does GRPO, RFT or DPO raise HumanEval pass@1 at equal time?

Qwen2.5-Coder-0.5B-Instruct with LoRA on this 2-core CPU. Stages, each skipped when its output
is there (rerun the same command to resume; an arm killed midway resumes from its last
checkpoint with a fresh budget):

  tasks     ``--data DIR``: a teacher run's cleaned output (``datagen clean``; refused without
            its decontamination marker), every task a training prompt; otherwise verified procedural tasks (``patchloop datagen`` functions: list, string, dict, parse),
            90% in the ``rl`` split; ``--validation`` of them held back (the validation split,
            drawn from the training distribution); checked against HumanEval (decontamination,
            printed) before anything trains on them. HumanEval is only the test.
  start     greedy pass@1 of the start model on all 164 HumanEval problems, with the prompt and
            settings of docs/benchmarks.md's full-HumanEval figure (chat, 512 tokens, batch 16).
  arms      per method and seed, ``patchloop train <method> --config configs/qwen0.5b-cpu-<method>.yaml``
            into ``OUT/<method>-seed<N>``: the same prompt pool and the same wall-clock budget
            (``--arm-wall-s``; RFT and DPO spend ``--sample-share`` of it sampling and grading).
  eval      HumanEval again for every arm, and its validation pass before/after (from the arm).

Then ``OUT/results.json`` and a table: pass@1 with its standard error, the paired change
against the start model (SE over problems and seeds), the step-time split (generation, grading,
optimisation), and the goal of issue 15 (>= +5 points, > 2 SE, above RFT), with each arm's
training diagnostics when it is not met.

    .venv/bin/python bench/learning_real.py --dry-run                     # the plan, nothing runs
    .venv/bin/python bench/learning_real.py                               # GRPO, RFT, DPO, seed 0
    .venv/bin/python bench/learning_real.py --methods grpo --seeds 1      # a second seed of one arm
    .venv/bin/python bench/learning_real.py --model tiny --out runs/lr-tiny --arm-wall-s 5 \\
        --tasks 60 --pool 16 --validation 4 --humaneval-limit 4 --backend local   # plumbing check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from patchloop.demo.learning_bench import (
    METHODS,
    REAL_MODEL,
    arm_command,
    arm_figures,
    arm_name,
    check_settings,
    goal,
    method_score,
    settings_of,
    spec_for,
    tasks_dir,
    validation,
)

# Nearly all tasks in ``rl`` (prompts with tests); a few in the other splits, unused, because
# an empty split cannot be saved and loaded back.
FRACTIONS = {"sft": 0.05, "rl": 0.9, "heldout": 0.05}
console = Console(highlight=False, soft_wrap=True)  # commands stay on one line, to copy


def parse(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=REAL_MODEL, help="catalog name, checkpoint dir, or `tiny` (a plumbing test)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-learning-real"))
    ap.add_argument("--methods", default=",".join(METHODS), help="arms to run, of grpo,rft,dpo")
    ap.add_argument("--seeds", default="0", help="training seeds, e.g. 0,1")
    ap.add_argument("--arm-wall-s", type=float, default=4500.0, help="wall-clock seconds of training per arm")
    ap.add_argument("--sample-share", type=float, default=0.5,
                    help="share of an RFT/DPO arm's budget for sampling and grading (the rest trains)")
    ap.add_argument("--tasks", type=int, default=640, help="procedural tasks to make (90%% in the rl split)")
    ap.add_argument("--data", type=Path, default=None,
                    help="train on a cleaned datagen output (a DIR holding tasks.jsonl) instead of procedural tasks")
    ap.add_argument("--pool", type=int, default=512, help="training prompts every arm draws from")
    ap.add_argument("--validation", type=int, default=32, help="tasks held back as the validation split")
    ap.add_argument("--humaneval-limit", type=int, default=None, help="first N HumanEval problems (tests only)")
    ap.add_argument("--backend", default="auto", help="sandbox: auto, docker, local")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every arm, e.g. train.learning_rate=2e-5")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and run nothing")
    args = ap.parse_args(argv)
    bad = [m for m in args.methods.split(",") if m not in METHODS]
    if bad:
        ap.error(f"unknown method {', '.join(bad)} (choose from {', '.join(METHODS)})")
    if not 0 < args.sample_share < 1:
        ap.error("--sample-share must be between 0 and 1")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        ap.error(f"--seeds {args.seeds!r}: give integers separated by commas")
    if args.pool < 1 or args.validation < 1 or args.tasks <= args.validation:
        ap.error("--tasks must exceed --validation, and --pool and --validation must be positive")
    return args


def model_path(args) -> str:
    """What the arms load: the tiny model's directory, or the model named (it must be there)."""
    if args.model == "tiny":
        return str(args.out / "model")
    from patchloop.llm.catalog.models import CATALOG, is_fetched, model_dir

    if args.model in CATALOG and not is_fetched(model_dir(args.model)):
        raise SystemExit(f"error: {args.model} is not fetched yet: run `patchloop model fetch {args.model}` first")
    if args.model not in CATALOG and not (Path(args.model).expanduser() / "config.json").exists():
        raise SystemExit(f"error: {args.model}: neither a catalog model nor a checkpoint directory")
    return args.model


def arms(args) -> list[tuple[str, int]]:
    return [(m, s) for m in args.methods.split(",") for s in args.seed_list]


def start_validated(out: Path) -> Path | None:
    """The arm directory that measured the start model on the validation split, if one did."""
    return next(iter(sorted(out.glob("*-seed*/validation-before.json"))), None)


def print_plan(args, path: str) -> None:
    spec = spec_for(args.model)
    console.rule("plan")
    made = (f"{args.tasks} procedural ({', '.join(spec.families)}), 90% in rl, in {tasks_dir(args)}" if not args.data
            else f"the cleaned datagen output {args.data}")
    console.print(f"model {args.model} ({path}); tasks: {made}, {args.validation} held back as validation, a pool of {args.pool} "
                  "training prompts for every arm; decontaminated against HumanEval before training")
    he = f"first {args.humaneval_limit}" if args.humaneval_limit else "all 164"
    console.print(f"HumanEval: {he} problems, greedy, {spec.prompt_format} prompt, {spec.eval_tokens} new tokens, "
                  f"batch {spec.eval_batch}; the start model once, then every arm")
    share = args.sample_share
    console.print(f"budget per arm: {args.arm_wall_s:g} s ({args.arm_wall_s / 60:.1f} min) of training; "
                  f"RFT/DPO: sampling <= {args.arm_wall_s * share:g} s, training <= {args.arm_wall_s * (1 - share):g} s")
    validate = start_validated(args.out) is None
    for m, s in arms(args):
        done = (args.out / arm_name(m, s) / "DONE.json").exists()
        console.print(f"[bold]{arm_name(m, s)}[/bold]{' (done, skipped)' if done else ''}: "
                      + escape(" ".join(arm_command(m, s, args, args.out, path, validate_start=validate and not done))))
        validate = validate and done


def stage(name: str, done: bool) -> bool:
    console.rule(f"{name}{' (done earlier, skipped)' if done else ''}")
    return not done


def make_tasks(args) -> dict:
    """The task directory (made once, or ``--data``) and its decontamination check against HumanEval."""
    from patchloop.rl.data import DataError, load_split, refuse_humaneval_overlap

    tasks = tasks_dir(args)
    try:
        if args.data:
            given_tasks(tasks)
        elif stage("tasks", (tasks / "fingerprint.json").exists()):
            from patchloop.datagen.functions import FunctionsConfig
            from patchloop.datagen.run_functions import run_functions

            run_functions(FunctionsConfig(n=args.tasks, seed=0, families=spec_for(args.model).families,
                                          fractions=FRACTIONS), tasks, backend=args.backend, progress=True)
        rows = load_split(tasks, "rl")
        if len(rows) <= args.validation:
            raise SystemExit(f"error: {tasks}: {len(rows)} tasks, not more than --validation {args.validation}; "
                             "raise --tasks")
        check = refuse_humaneval_overlap(rows, f"{tasks}:rl")
    except DataError as e:
        raise SystemExit(f"error: {e}") from None
    console.print(f"decontamination: {check['contaminated']} of {check['checked']} tasks contaminated by HumanEval, "
                  f"{check['touching']} share an n-gram with it; {len(rows)} tasks, "
                  f"{min(args.pool, len(rows) - args.validation)} in the training pool")
    return check


def given_tasks(tasks: Path) -> None:
    """``--data``: a teacher's tasks are used only once ``datagen clean`` has marked them."""
    from patchloop.rl.data import require_cleaned

    console.rule("tasks (from --data)")
    marker = require_cleaned(tasks)
    if marker:
        console.print(f"  {tasks}: cleaned by `datagen clean` against {', '.join(marker.get('benchmarks') or [])}")


def humaneval(args, model: str | Path, name: str) -> dict[str, bool]:
    """Per-problem greedy verdicts of ``model`` (resumable under ``OUT/eval/<name>``)."""
    from patchloop.demo.real import finished_humaneval, humaneval_pass, per_problem
    from patchloop.evals.func.evaluate import load_func_problems

    problems = load_func_problems("humaneval")
    ids = sorted(problems, key=lambda t: int(t.split("/")[-1]))[:args.humaneval_limit]
    out, spec = args.out / "eval" / name, spec_for(args.model)
    if stage(f"HumanEval: {name}", finished_humaneval(out) is not None):
        t = time.monotonic()
        humaneval_pass(model, {t: problems[t] for t in ids}, out, backend=args.backend, seed=0,
                       max_new_tokens=spec.eval_tokens, prompt_format=spec.prompt_format,
                       batch_size=spec.eval_batch)
        console.print(f"  took {time.monotonic() - t:.0f} s")
    verdicts = per_problem(out)
    console.print(f"  pass@1 {100 * sum(verdicts.values()) / len(verdicts):.1f}% ({sum(verdicts.values())}/{len(verdicts)})")
    return verdicts


def train_arm(args, method: str, seed: int, path: str) -> None:
    """One arm by its ``patchloop train`` command; its output goes to ``train.log``."""
    arm = args.out / arm_name(method, seed)
    if not stage(f"train {arm.name}", (arm / "DONE.json").exists()):
        return
    cmd = arm_command(method, seed, args, args.out, path, validate_start=start_validated(args.out) is None)
    arm.mkdir(parents=True, exist_ok=True)
    console.print(f"  {escape(' '.join(cmd))}\n  log: {arm / 'train.log'} (budget {args.arm_wall_s:g} s)")
    t = time.monotonic()
    with open(arm / "train.log", "ab") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1")).returncode
    wall = arm / "bench-wall.json"  # summed over the runs that made the arm (a resume adds)
    spent = json.loads(wall.read_text())["wall_s"] if wall.exists() else 0.0
    wall.write_text(json.dumps({"wall_s": round(spent + time.monotonic() - t, 1)}))
    if rc != 0:
        raise SystemExit(f"error: {arm.name} failed (exit {rc}); see {arm / 'train.log'}")
    console.print(f"  done in {time.monotonic() - t:.0f} s")


def summarise(args, start: dict[str, bool], decontam: dict) -> dict:
    """Every finished arm in OUT (earlier invocations' too), per arm and per method."""
    rows, by_method = {}, {}
    v_start = start_validated(args.out)
    for done in sorted(args.out.glob("*-seed*/DONE.json")):
        arm = done.parent
        method, seed = arm.name.rsplit("-seed", 1)
        verdicts = humaneval(args, json.loads(done.read_text())["model"], arm.name)
        score = method_score(start, [verdicts])
        wall = arm / "bench-wall.json"
        rows[arm.name] = {"method": method, "seed": int(seed), **score, "validation_after": validation(arm, "after"),
                          "wall_s": json.loads(wall.read_text())["wall_s"] if wall.exists() else None,
                          **arm_figures(arm, method)}
        by_method.setdefault(method, []).append(verdicts)
    methods = {m: method_score(start, v) for m, v in by_method.items()}
    start_pass = method_score(start, [start])
    return {"settings": settings_of(args), "decontamination": decontam, "problems": len(start),
            "start": {"pass@1": start_pass["pass@1"], "se": start_pass["se"],
                      "validation": validation(v_start.parent, "before") if v_start else None},
            "arms": rows, "methods": methods, "goal": goal(methods)}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:5.1f}"


def print_results(res: dict) -> None:
    s = res["start"]
    console.rule(f"results ({res['problems']} HumanEval problems, greedy pass@1 %, ± standard error)")
    console.print(f"start model: {pct(s['pass@1'])} ± {pct(s['se'])}   validation {pct(s['validation'])}")
    console.print(f"{'arm':<12} {'pass@1':>13} {'change':>14} {'valid.':>6} {'steps':>6} {'gen s':>8} "
                  f"{'grade s':>8} {'optim s':>8} {'wall s':>8}")
    for name, r in res["arms"].items():
        t = r["time"]
        console.print(f"{name:<12} {pct(r['pass@1'])} ± {pct(r['se'])} {100 * r['change']:+6.1f} ± {pct(r['change_se'])} "
                      f"{pct(r['validation_after']):>6} {r['steps']:>6} {t['generation_s'] or 0:>8.0f} "
                      f"{t['grading_s'] or 0:>8.0f} {t['optimisation_s'] or 0:>8.0f} {r['wall_s'] or 0:>8.0f}")
        if "time_per_step" in r:
            console.print("  per step: " + ", ".join(f"{k} {v}" for k, v in r["time_per_step"].items()))
    for m, r in res["methods"].items():
        checks = res["goal"]["per_method"][m]["checks"]
        console.print(f"{m:<5} over {r['seeds']} seed(s): {pct(r['pass@1'])} ± {pct(r['se'])}, change "
                      f"{100 * r['change']:+.1f} ± {100 * r['change_se']:.1f} points; "
                      + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in checks.items()))
    met = [m for m, v in res["goal"]["per_method"].items() if v["met"]]
    console.print(f"[bold]goal (>= +5 points over the start, > 2 SE, above RFT at equal time): "
                  f"{'MET by ' + ', '.join(met) if met else 'NOT met'}[/bold]")
    if not met:
        for name, r in res["arms"].items():
            console.print(f"  {name} diagnostics: " + ", ".join(f"{k} {v}" for k, v in r["diagnostics"].items()))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    refusal = check_settings(args.out, settings_of(args), write=False)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    if args.dry_run:
        print_plan(args, str(args.out / "model") if args.model == "tiny" else args.model)
        return 0
    path = model_path(args)  # refused before anything is written
    check_settings(args.out, settings_of(args), write=True)
    print_plan(args, path)
    try:
        return run(args, path)
    except ValueError as e:  # e.g. samples the grading sandbox could not grade: one line, rerun resumes
        print(f"error: {e}", file=sys.stderr)
        return 1


def run(args, path: str) -> int:
    if args.model == "tiny" and stage("tiny model", (args.out / "model" / "config.json").exists()):
        from patchloop.llm.catalog.tiny import init_tiny

        init_tiny(args.out / "model", seed=0)
    decontam = make_tasks(args)
    start = humaneval(args, path, "start")
    for method, seed in arms(args):
        train_arm(args, method, seed, path)
    res = summarise(args, start, decontam)
    (args.out / "results.json").write_text(json.dumps(res, indent=2))
    print_results(res)
    console.print(f"results: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    sys.exit(main())
