"""Is a dataset of SWE-style instances valid? Gold must resolve, and before any fix every
FAIL_TO_PASS test must fail (else the instance rewards doing nothing).

Two runs through the same grader as everything else: the gold patches, and the empty patch
with the tests run anyway (``run_empty``), each under ``<run_dir>/gold`` and ``<run_dir>/before``
so they resume like any run.
"""

from __future__ import annotations

from pathlib import Path

from patchloop.evals import grading
from patchloop.evals.datasets import load_predictions
from patchloop.evals.junit import PASSED
from patchloop.evals.run import load_results, run_swe_eval
from patchloop.evals.swe import instance_key
from patchloop.types import Task


def validate(tasks: list[Task], run_dir: str | Path, *, backend: str = "auto", timeout: float = 300.0,
             workers: int = 1, progress: bool = True) -> dict[str, list[str]]:
    """Problems per instance id (empty dict: the dataset is valid)."""
    run_dir = Path(run_dir)
    common = {"workers": workers, "backend": backend, "timeout": timeout, "progress": progress}
    gold = run_swe_eval(tasks, load_predictions("gold", tasks), run_dir / "gold", **common)
    before = run_swe_eval(tasks, load_predictions("empty", tasks), run_dir / "before", run_empty=True, **common)
    before_results = load_results(run_dir / "before" / "results.jsonl")
    problems: dict[str, list[str]] = {}
    for task in tasks:
        iid = task.instance_id
        if iid not in gold["resolved_ids"]:
            verdict = next((v for v in grading.VERDICTS if iid in gold[f"{v}_ids"]), "missing")
            problems.setdefault(iid, []).append(f"gold patch is {verdict}: {gold['reasons'].get(iid, '')}".rstrip(": "))
        res = before_results.get(instance_key(task, "", run_empty=True))
        if res is None or iid in before["error_ids"] or iid in before["timeout_ids"]:
            why = res.reason if res else "no result"
            problems.setdefault(iid, []).append(f"before-the-fix run failed: {why}")
            continue
        passing = [t for t in task.FAIL_TO_PASS if res.tests.get(t) == PASSED]
        if passing:
            problems.setdefault(iid, []).append(
                f"{len(passing)} FAIL_TO_PASS test(s) already pass before the fix: {passing[0]}")
    return problems
