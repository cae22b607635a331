"""Does training the agent on its own rollouts make it resolve more tasks of repositories it never saw?

Tasks come from ``patchloop datagen repos`` (its ``train.jsonl``/``eval.jsonl``, already split by
repository) or from one instances file split here by repository (``--eval-fraction``): no
repository is in both. On ``--model`` (LoRA), each method gets the same training tasks and the
same wall-clock budget (``--arm-wall-s``):

  rft   agentic RFT: k rollouts per training task, SFT on the resolved ones (``train agent-rft``);
  dpo   agentic DPO on (resolved, unresolved) pairs of the same rollouts (``train agent-dpo``);
  grpo  multi-turn GRPO (``train agent-grpo``).

Every method sees k = ``--samples`` rollouts of each training task: RFT and DPO through
``rollouts.samples_per_task``, GRPO as its group size ``num_generations`` (its per-device batch
set to whole groups, as TRL requires). RFT and DPO learn offline from one shared set of rollouts
(``OUT/rollouts``); its wall time is charged to both budgets, so their training gets
``--arm-wall-s`` minus the rollouts' time. GRPO rolls out online inside its own budget. The start
model and every trained model then run as the agent (``patchloop batch``, the same limits as the
rollouts) on the held-out tasks, greedily by default (``--eval-temperature``; above 0 seeded with
``--seed``) so a change against the start model is the training's and not the sampler's, graded
by ``patchloop eval swe``. Printed: resolved counts, the rate's standard error, the paired change
against the start model and its standard error, and the time split of the rollouts (model,
sandbox, grading) and of each arm (rollouts, training, held-out evaluation).

Every stage resumes (rerun the same command): each arm writes to its own ``OUT/<arm>``, the
rollouts, batches and evaluations skip what they finished, a trained arm is not retrained.

    .venv/bin/python bench/agentic_rl.py --tasks runs/repo-tasks --out runs/bench/agentic-rl
    .venv/bin/python bench/agentic_rl.py --tasks runs/repo-tasks --methods rft --train-tasks 8 \\
        --eval-tasks 8 --samples 2 --arm-wall-s 1800 --dry-run       # print the plan only
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchloop.types import Task, read_jsonl, write_json, write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
METHODS = ("rft", "dpo", "grpo")
PRESETS = {"rft": "agentic-rft-qwen0.5b-cpu.yaml", "dpo": "agentic-dpo-qwen0.5b-cpu.yaml",
           "grpo": "agentic-grpo-qwen0.5b-cpu.yaml"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", required=True, type=Path,
                   help="A `datagen repos` output directory (train.jsonl, eval.jsonl) or one instances file.")
    p.add_argument("--out", type=Path, default=Path("runs/bench/agentic-rl"))
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="Start model (catalog name or HF dir).")
    p.add_argument("--methods", default="rft,dpo,grpo", type=_methods)
    p.add_argument("--eval-fraction", type=float, default=0.3, help="Held-out share when --tasks is one file.")
    p.add_argument("--seed", type=int, default=0, help="Seed of the repository split (and of sampled held-out runs).")
    p.add_argument("--train-tasks", type=int, default=16, help="Training tasks (the first N of the train split).")
    p.add_argument("--eval-tasks", type=int, default=16, help="Held-out tasks (the first N of the eval split).")
    p.add_argument("--samples", type=int, default=4, help="Rollouts per training task (k), for every method "
                   "(GRPO: its group size).")
    p.add_argument("--eval-temperature", type=float, default=0.0, help="Sampling temperature of every held-out "
                   "run, the start model's and each arm's (0: greedy; above 0 seeded with --seed).")
    p.add_argument("--arm-wall-s", type=float, default=3600.0, help="Wall-clock budget of each method.")
    p.add_argument("--max-steps", type=int, default=10, help="Agent steps per episode (rollouts and evaluation).")
    p.add_argument("--context", type=int, default=8192, help="Agent context window in tokens.")
    p.add_argument("--max-new-tokens", type=int, default=384, help="Longest model reply.")
    p.add_argument("--workers", type=int, default=2, help="Episodes at the same time.")
    p.add_argument("--backend", default="auto", choices=["auto", "docker", "local"])
    p.add_argument("--dry-run", action="store_true", help="Print the split and the commands, run nothing.")
    args = p.parse_args(argv)
    if args.train_tasks < 1 or args.eval_tasks < 1 or args.samples < 1:
        p.error("--train-tasks, --eval-tasks and --samples must be at least 1")
    if "grpo" in args.methods and args.samples < 2:
        p.error("--samples must be at least 2 with grpo: a GRPO group needs two rollouts of a task")
    if args.eval_temperature < 0:
        p.error("--eval-temperature must be at least 0")
    return args


def _methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in METHODS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown method(s) {', '.join(bad) or '(none)'}; choose from {', '.join(METHODS)}")
    return names


def split_tasks(source: Path, eval_fraction: float, seed: int) -> tuple[list[Task], list[Task]]:
    """(train, held out), split by repository; a split that shares a repository is refused."""
    from patchloop.evals.datasets import load_tasks

    if source.is_dir() and (source / "train.jsonl").exists() and (source / "eval.jsonl").exists():
        train, held = load_tasks(source / "train.jsonl"), load_tasks(source / "eval.jsonl")
    else:
        from patchloop.datagen.repos.pipeline import split_by_repo

        parts = split_by_repo(load_tasks(source), eval_fraction, seed)
        train, held = parts["train"], parts["eval"]
    shared = sorted({t.repo for t in train} & {t.repo for t in held})
    if shared:
        raise SystemExit(f"agentic_rl: {source}: repositories in both splits: {', '.join(shared[:5])}")
    if not train or not held:
        raise SystemExit(f"agentic_rl: {source}: needs tasks of at least two repositories (train {len(train)}, "
                         f"held out {len(held)})")
    return train, held


def prepare(args) -> dict[str, Path]:
    """The selected tasks in ``OUT/tasks``, written once; a rerun with other choices is refused."""
    train, held = split_tasks(args.tasks, args.eval_fraction, args.seed)
    train, held = train[: args.train_tasks], held[: args.eval_tasks]
    plan = {k: getattr(args, k) for k in ("model", "samples", "max_steps", "context", "max_new_tokens", "seed")}
    plan |= {"heldout_sampling": heldout_sampling(args),
             "train": [t.instance_id for t in train], "eval": [t.instance_id for t in held]}
    mark = args.out / "bench.json"
    if mark.exists() and json.loads(mark.read_text()) != plan:
        raise SystemExit(f"agentic_rl: {args.out} holds a run with other tasks or settings: use another --out")
    paths = {"train": args.out / "tasks" / "train.jsonl", "eval": args.out / "tasks" / "eval.jsonl"}
    if not args.dry_run:
        write_jsonl(paths["train"], train)
        write_jsonl(paths["eval"], held)
        write_json(mark, plan)
    print(f"train: {len(train)} tasks of {sorted({t.repo for t in train})}", flush=True)
    print(f"held out: {len(held)} tasks of {sorted({t.repo for t in held})}", flush=True)
    return paths


def heldout_sampling(args) -> dict:
    """How every held-out run samples (``patchloop batch --temperature/--seed``): one setting for
    the start model and every arm, greedy unless asked, so their difference is not sampling noise."""
    if args.eval_temperature == 0:
        return {"temperature": 0.0}
    return {"temperature": args.eval_temperature, "seed": args.seed}


def grpo_group(args) -> dict[str, int]:
    """GRPO's overrides for k = ``--samples``: ``num_generations`` k (GRPO groups by it and ignores
    ``samples_per_task``) and a per-device batch of whole groups (TRL refuses another), as many
    tasks per step as the preset has."""
    from patchloop.rl.agentic.config import AgentGRPOConfig
    from patchloop.rl.config import load_config

    preset = load_config(AgentGRPOConfig, CONFIGS / PRESETS["grpo"])
    per_step = max(1, preset.train.per_device_train_batch_size // preset.num_generations)
    return {"num_generations": args.samples, "train.per_device_train_batch_size": args.samples * per_step}


def describe_plan(args) -> list[str]:
    """What every arm shares, said before anything runs (and in the dry run)."""
    k = args.samples
    lines = [f"rollouts per training task: k={k} for every method"]
    if "grpo" in args.methods:
        g = grpo_group(args)
        lines[0] += (f" (rft/dpo: rollouts.samples_per_task={k}; grpo: num_generations={g['num_generations']}, "
                     f"per-device batch {g['train.per_device_train_batch_size']})")
    s = heldout_sampling(args)
    how = "greedy (temperature 0)" if s["temperature"] == 0 else f"temperature {s['temperature']}, seed {s['seed']}"
    return lines + [f"held-out runs (start model and every arm): {how}"]


def rollout_overrides(args, tasks: Path) -> list[str]:
    """The rollouts every method shares (a key changed here is changed for all of them)."""
    return [f"model.name_or_path={args.model}", f"rollouts.tasks={tasks}", f"rollouts.samples_per_task={args.samples}",
            f"rollouts.workers={args.workers}", f"rollouts.backend={args.backend}",
            f"rollouts.agent.max_steps={args.max_steps}", f"rollouts.agent.context_tokens={args.context}",
            f"rollouts.agent.completion_tokens={args.max_new_tokens}", "rollouts.agent.action_mode=text",
            f"rollouts.output_dir={args.out / 'rollouts'}"]


def train_command(args, method: str, tasks: Path, budget_s: float) -> list[str]:
    cmd = [sys.executable, "-m", "patchloop", "train", f"agent-{method}", "--config", str(CONFIGS / PRESETS[method]),
           *rollout_overrides(args, tasks), f"train.output_dir={args.out / method / 'train'}",
           f"train.max_wall_s={int(budget_s)}"]
    if method == "grpo":  # online rollouts in its own directory; its k is the group size
        cmd = [c for c in cmd if not c.startswith(("rollouts.output_dir=", "rollouts.samples_per_task="))]
        cmd += [f"{key}={value}" for key, value in grpo_group(args).items()]
    return cmd


def agent_flags(args, tasks: Path) -> list[str]:
    """``patchloop batch`` flags for the agent the rollouts ran: read from the resolved preset, so
    evaluation and training episodes have the same limits and prompts."""
    from patchloop.rl.agentic.config import AgentRFTConfig
    from patchloop.rl.config import load_config

    a = load_config(AgentRFTConfig, CONFIGS / PRESETS["rft"], rollout_overrides(args, tasks)).rollouts.agent
    return ["--max-steps", str(a.max_steps), "--max-tokens", str(a.max_tokens), "--max-wall", str(a.max_wall_s),
            "--context", str(a.context_tokens), "--max-new-tokens", str(a.completion_tokens),
            "--repo-map-tokens", str(a.repo_map_tokens), "--action-mode", a.action_mode]


def heldout_commands(args, name: str, spec: str, tasks: Path) -> list[list[str]]:
    """The agent on the held-out tasks, then the harness on its predictions."""
    run = args.out / name / "heldout"
    batch = [sys.executable, "-m", "patchloop", "batch", "--dataset", str(tasks), "--model", spec, "--out", str(run),
             *agent_flags(args, tasks), "--workers", str(args.workers), "--backend", args.backend,
             *[f for key, value in heldout_sampling(args).items() for f in (f"--{key}", str(value))]]
    grade = [sys.executable, "-m", "patchloop", "eval", "swe", "--dataset", str(tasks), "--predictions",
             str(run / "predictions.jsonl"), "--run-id", "heldout", "--runs-dir", str(args.out / name / "eval"),
             "--backend", args.backend, "--workers", str(args.workers), "--no-progress"]
    return [batch, grade]


def timed(cmd: list[str], marker: Path, key: str) -> float:
    """Run ``cmd`` once; its wall time is kept in ``marker`` so a finished stage is not rerun."""
    done = json.loads(marker.read_text()) if marker.exists() else {}
    if key in done:
        return done[key]
    t0 = time.monotonic()
    res = subprocess.run(cmd, cwd=ROOT, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:5])} exited {res.returncode}")
    done[key] = round(time.monotonic() - t0, 1)
    write_json(marker, done)
    return done[key]


def evaluate(args, name: str, spec: str, tasks: Path) -> dict:
    batch, grade = heldout_commands(args, name, spec, tasks)
    wall = timed(batch, args.out / name / "timing.json", "heldout_batch_s") + timed(
        grade, args.out / name / "timing.json", "heldout_eval_s")
    report = json.loads((args.out / name / "eval" / "heldout" / "report.json").read_text())
    return {"resolved_ids": report["resolved_ids"], "n": report["submitted_instances"], "eval_wall_s": wall}


def compare(base: dict, arm: dict, ids: list[str]) -> dict:
    """Resolved count and rate with its standard error, and the paired change against the start
    model (same tasks) with the standard error of that mean difference."""
    n = len(ids)
    a, b = set(arm["resolved_ids"]), set(base["resolved_ids"])
    p = len(a) / n
    diffs = [(i in a) - (i in b) for i in ids]
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else 0.0
    se = sd / math.sqrt(n)
    return {"resolved": len(a), "n": n, "rate": p, "se": math.sqrt(p * (1 - p) / n),
            "change": mean, "change_se": se, "better": mean > 0 and mean > 2 * se}


def run_arm(args, method: str, paths: dict, rollout_s: float) -> dict:
    budget = args.arm_wall_s if method == "grpo" else max(60.0, args.arm_wall_s - rollout_s)
    try:
        train_s = timed(train_command(args, method, paths["train"], budget), args.out / method / "timing.json", "train_s")
    except RuntimeError as e:  # e.g. no resolved rollout to learn from: reported, the others go on
        return {"skipped": f"training failed: {e} (see its output above)"}
    return {"train_s": train_s, "budget_s": budget, **evaluate(args, method, f"hf:{args.out / method / 'train'}",
                                                                 paths["eval"])}


def print_report(results: dict, base: dict, rollouts: dict, ids: list[str]) -> dict:
    rows = {"start": compare(base, base, ids)} | {m: compare(base, r, ids) for m, r in results.items() if "skipped" not in r}
    print("\n| model | resolved | rate ± se | change vs start ± se | train s | held-out eval s |")
    print("|---|---|---|---|---|---|")
    for name, c in rows.items():
        r = results.get(name, base)
        print(f"| {name} | {c['resolved']}/{c['n']} | {c['rate']:.3f} ± {c['se']:.3f} | {c['change']:+.3f} ± "
              f"{c['change_se']:.3f}{' (> 2 se)' if c['better'] else ''} | {r.get('train_s', 0):.0f} | "
              f"{r['eval_wall_s']:.0f} |")
    for name, r in results.items():
        if "skipped" in r:
            print(f"{name}: {r['skipped']}")
    if rollouts:
        from patchloop.rl.agentic.rollouts import masked_text

        print("rollouts (shared by rft and dpo): {resolved}/{rollouts} resolved on {tasks_resolved}/{tasks} tasks, "
              "masked {masked_text}; wall {wall_s:.0f} s; model {model_s:.0f} s, sandbox {sandbox_s:.0f} s, grading "
              "{grade_s:.0f} s (summed over parallel rollouts)".format(**rollouts, masked_text=masked_text(rollouts["masked"])))
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    paths = prepare(args)
    print("\n".join(describe_plan(args)), flush=True)
    offline = [m for m in args.methods if m != "grpo"]
    if args.dry_run:
        plan = heldout_commands(args, "start", f"hf:{args.model}", paths["eval"])
        if offline:
            plan.append([sys.executable, "-m", "patchloop", "train", "agent-rollouts", "--config",
                         str(CONFIGS / PRESETS["rft"]), *rollout_overrides(args, paths["train"])])
        for m in args.methods:
            plan += [train_command(args, m, paths["train"], args.arm_wall_s),
                     *heldout_commands(args, m, f"hf:{args.out / m / 'train'}", paths["eval"])]
        print("\n".join(" ".join(c[2:]) for c in plan))
        return
    base = evaluate(args, "start", f"hf:{args.model}", paths["eval"])
    rollouts, rollout_s = {}, 0.0
    if offline:
        rollout_s = timed([sys.executable, "-m", "patchloop", "train", "agent-rollouts", "--config",
                           str(CONFIGS / PRESETS["rft"]), *rollout_overrides(args, paths["train"])],
                          args.out / "rollouts-timing.json", "wall_s")
        rollouts = {**json.loads((args.out / "rollouts" / "summary.json").read_text()), "wall_s": rollout_s}
    results = {m: run_arm(args, m, paths, rollout_s) for m in args.methods}
    ids = [t["instance_id"] for t in read_jsonl(paths["eval"])]
    rows = print_report(results, base, rollouts, ids)
    write_json(args.out / "report.json", {"start": base, "arms": results, "compare": rows, "rollouts": rollouts,
                                          "samples": args.samples, "heldout_sampling": heldout_sampling(args)})


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
