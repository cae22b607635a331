"""The reward of one agent rollout: the SWE harness's verdict on its diff alone.

``evaluate_instance`` (what ``patchloop eval swe`` runs) grades the diff in a fresh checkout of
the task, never in the workspace the agent worked in, with the graded test files and the test
machinery reset to base and the test patch applied on top. A reward is stricter than that
verdict in two ways, both reward-hacking defences: an empty diff earns 0 without a test run,
and a diff that edits the files that grade it (``evals.grading.edited_test_files``) earns 0
even though the harness would have overridden those edits, so a policy never learns that
touching the tests is part of a fix. A harness failure (no verdict) is ``reward=None``:
unknown, not wrong.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from patchloop.types import Task

EDITS_TESTS = "edits_tests"  # the reward's own verdict, next to the harness's


@dataclass
class Grade:
    """What a rollout earned and why; ``reward`` None when the harness could not say."""

    resolved: bool
    reward: float | None
    verdict: str
    reason: str = ""
    grade_s: float = 0.0


def grade_patch(task: Task, patch: str, *, backend: str = "auto", timeout: float = 300.0,
                log_dir: str | Path | None = None) -> Grade:
    """Grade ``patch`` for ``task`` as a reward (see the module docstring)."""
    from patchloop.evals import grading
    from patchloop.evals.logparsers import RUNNERS, runner_name
    from patchloop.evals.swe import evaluate_instance

    t0 = time.monotonic()
    if not (patch or "").strip():
        return Grade(False, 0.0, grading.EMPTY_PATCH, "the rollout changed nothing")
    name = runner_name(task)
    edited = grading.edited_test_files(task, patch, RUNNERS[name].protected if name in RUNNERS else ())
    if task.extra.get("allow_test_machinery"):  # a pytest plugin's repo: its machinery is its code
        edited = [p for p in edited if p in grading.graded_test_files(task)]
    if edited:
        return Grade(False, 0.0, EDITS_TESTS, f"the diff edits files that grade it: {', '.join(edited[:5])}",
                     round(time.monotonic() - t0, 3))
    res = evaluate_instance(task, patch, backend=backend, timeout=timeout, log_dir=log_dir)
    reward = None if res.verdict == grading.ERROR_VERDICT else float(res.resolved)
    return Grade(res.resolved, reward, res.verdict, res.reason, round(time.monotonic() - t0, 3))
