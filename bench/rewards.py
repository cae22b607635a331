"""Reward verification throughput, side by side in one run: batched vs one sandbox per completion.

    .venv/bin/python bench/rewards.py [--n 256] [--naive 12] [--backends local,docker] [--out runs/bench/rewards.json]

Completions are generated arithmetic/list/string tasks (half correct, half wrong), graded by
``grade_function_batch`` -- the grader that RL rewards call. For each backend:
  1. batched: ONE sandbox, the fork server grades all ``n`` completions (sandbox start included
     and excluded);
  2. one server run per completion in that same sandbox (an interpreter start per sample);
  3. naive: a fresh sandbox per completion (start, grade one, close), ``--naive`` of them.
Goal (issue 6): batched >= 5x the naive completions per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

from patchloop.datagen.families import FAMILIES
from patchloop.datagen.functions import to_task
from patchloop.evals.func.grade import grade_function_batch
from patchloop.sandbox import open_sandbox
from patchloop.types import write_json


def workload(n: int, seed: int = 0):
    rng = random.Random(seed)
    tasks, comps = [], []
    for i in range(n):
        fam = ("arith", "list", "string")[i % 3]
        task = to_task(FAMILIES[fam][0](random.Random(rng.random()), 1 + i % 3), 0)
        tasks.append(task)
        comps.append(task.canonical_solution if i % 2 == 0 else "    return None\n")
    return tasks, comps


def _check(results, comps) -> None:
    want = [c != "    return None\n" for c in comps]
    got = [r.passed for r in results]
    if got != want:
        raise SystemExit(f"grader disagreed with the workload: {sum(g != w for g, w in zip(got, want))} mismatches")


def bench_backend(backend: str, n: int, naive: int) -> dict:
    tasks, comps = workload(n)
    t0 = time.perf_counter()
    with open_sandbox(backend, task_id="bench-rewards") as sb:
        t1 = time.perf_counter()
        results = grade_function_batch(tasks, comps, sandbox=sb)
        t2 = time.perf_counter()
        _check(results, comps)
        k = min(naive * 2, n)
        t3 = time.perf_counter()
        per_run = [grade_function_batch(tasks[i], [comps[i]], sandbox=sb)[0] for i in range(k)]
        t4 = time.perf_counter()
        _check(per_run, comps[:k])
    t5 = time.perf_counter()
    fresh = []
    for i in range(naive):
        with open_sandbox(backend, task_id="bench-rewards-naive") as sb:
            fresh += grade_function_batch(tasks[i], [comps[i]], sandbox=sb)
    t6 = time.perf_counter()
    _check(fresh, comps[:naive])
    batched = n / (t2 - t1)
    out = {
        "backend": backend, "n": n,
        "sandbox_start_s": round(t1 - t0, 3),
        "batched_per_s": round(batched, 1),
        "batched_incl_start_per_s": round(n / (t2 - t0), 1),
        "server_run_per_completion_per_s": round(k / (t4 - t3), 1),
        "fresh_sandbox_per_completion_per_s": round(naive / (t6 - t5), 2),
        "naive_n": naive,
    }
    out["ratio_batched_vs_fresh"] = round(batched / out["fresh_sandbox_per_completion_per_s"], 1)
    out["ratio_incl_start_vs_fresh"] = round(out["batched_incl_start_per_s"] / out["fresh_sandbox_per_completion_per_s"], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--naive", type=int, default=12)
    ap.add_argument("--backends", default="local,docker")
    ap.add_argument("--out", type=Path, default=Path("runs/bench/rewards.json"))
    args = ap.parse_args()
    rows = [bench_backend(b.strip(), args.n, args.naive) for b in args.backends.split(",") if b.strip()]
    print(f"{'backend':8} {'start s':>8} {'batched/s':>10} {'+start/s':>9} {'run/compl/s':>12} "
          f"{'fresh/s':>8} {'ratio':>6}")
    for r in rows:
        print(f"{r['backend']:8} {r['sandbox_start_s']:8.2f} {r['batched_per_s']:10.1f} "
              f"{r['batched_incl_start_per_s']:9.1f} {r['server_run_per_completion_per_s']:12.1f} "
              f"{r['fresh_sandbox_per_completion_per_s']:8.2f} {r['ratio_batched_vs_fresh']:5.1f}x")
    meta = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()}}
    write_json(args.out, {"rows": rows, **meta})
    print(json.dumps({"goal_met": all(r["ratio_batched_vs_fresh"] >= 5 for r in rows)}))


if __name__ == "__main__":
    main()
