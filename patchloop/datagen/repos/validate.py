"""Validate one candidate bug with the harness's own code, and turn a kept one into an instance.

Run 1 (``evals.swe.evaluate_instance``): the base commit with the bug applied as the patch,
every recorded passing test listed, in a fresh sandbox with a time limit. Tests that now
fail are the FAIL_TO_PASS candidates, those still passing PASS_TO_PASS. Drop reasons:
``timeout``, ``error`` (infrastructure), ``no_failure`` (no test notices the bug),
``breaks_import`` (no test passes any more: the module does not import or nothing works).

A candidate with both becomes an instance whose ``base_commit`` is the buggy root commit and
whose ``patch`` is the fix; ``evals.validate.validate`` (what ``patchloop eval validate``
runs) then grades the gold patch and reruns the buggy state. That rerun is the second run:
a test whose status differs from run 1 makes the candidate ``flaky``; a gold patch that does
not resolve drops it as ``invalid``. So every kept instance has passed ``eval validate``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.datagen.repos.candidates import Candidate, gold_patch, write_buggy_commit
from patchloop.datagen.repos.issues import IssueContext, IssueWriter, failure_messages, test_sources
from patchloop.datagen.repos.source import RepoSource
from patchloop.datagen.repos.suite import env_task
from patchloop.evals import grading
from patchloop.evals.junit import PASSED
from patchloop.evals.run import load_results
from patchloop.evals.swe import evaluate_instance, instance_key
from patchloop.evals.validate import validate
from patchloop.types import Record, Task

TEST_PATCH_NOTE = "FAIL_TO_PASS tests already exist in the repository: test_patch is empty"
_git_lock = threading.Lock()  # buggy commits of one repository are written one at a time


@dataclass
class Outcome(Record):
    """What happened to one candidate (one line of ``outcomes.jsonl``)."""

    id: str
    repo: str
    mutation: str
    kept: bool
    reason: str = ""
    fail_to_pass: int = 0
    pass_to_pass: int = 0
    wall_s: float = 0.0
    runs: list[float] = field(default_factory=list)


def _drop(cand: Candidate, reason: str, t0: float, runs: list[float]) -> tuple[Outcome, None]:
    return Outcome(cand.id, cand.repo, cand.mutation, False, reason, wall_s=round(time.monotonic() - t0, 2),
                   runs=runs), None


def validate_candidate(cand: Candidate, src: RepoSource, passing: list[str], work: Path, writer: IssueWriter,
                       *, timeout: float = 120.0, backend: str = "docker") -> tuple[Outcome, Task | None]:
    """(outcome, instance or None) for one candidate; never raises for a bad candidate."""
    t0 = time.monotonic()
    probe = env_task(src)
    probe.instance_id, probe.PASS_TO_PASS = cand.id, list(passing)
    res = evaluate_instance(probe, cand.diff, backend=backend, timeout=timeout, log_dir=work / "logs")
    runs = [res.total_s]
    if res.verdict == grading.TIMEOUT:
        return _drop(cand, "timeout", t0, runs)
    if res.verdict in (grading.ERROR_VERDICT, grading.PATCH_FAILED) or not res.tests:
        return _drop(cand, f"error: {res.verdict} {res.reason[:200]}".strip(), t0, runs)
    f2p = [t for t in passing if res.tests.get(t) != PASSED]
    p2p = [t for t in passing if res.tests.get(t) == PASSED]
    if not f2p:
        return _drop(cand, "no_failure", t0, runs)
    if not p2p:
        return _drop(cand, "breaks_import", t0, runs)
    log = Path(res.log_path).read_text(encoding="utf-8", errors="replace") if res.log_path else ""
    task = make_instance(cand, src, f2p, p2p, writer, failure_messages(log))
    run_dir = work / "validate" / cand.id
    problems = validate([task], run_dir, backend=backend, timeout=timeout, progress=False)
    before = load_results(run_dir / "before" / "results.jsonl").get(instance_key(task, "", run_empty=True))
    gold = load_results(run_dir / "gold" / "results.jsonl").get(instance_key(task, task.patch))
    runs += [r.total_s for r in (gold, before) if r is not None]
    if before is not None and any((before.tests.get(t) == PASSED) != (t in p2p) for t in passing):
        return _drop(cand, "flaky", t0, runs)
    if problems:
        return _drop(cand, "invalid: " + "; ".join(problems[task.instance_id])[:200], t0, runs)
    out = Outcome(cand.id, cand.repo, cand.mutation, True, fail_to_pass=len(f2p), pass_to_pass=len(p2p),
                  wall_s=round(time.monotonic() - t0, 2), runs=runs)
    task.extra["validation_s"] = out.wall_s
    return out, task


def make_instance(cand: Candidate, src: RepoSource, f2p: list[str], p2p: list[str], writer: IssueWriter,
                  messages: dict[str, str]) -> Task:
    """The SWE-bench record: base at the buggy root commit, the fix as ``patch``."""
    with _git_lock:
        buggy = write_buggy_commit(src.path, [cand.diff], f"refs/patchloop/bugs/{cand.id}")
        fix = gold_patch(src.path, buggy)
    module = cand.path.removesuffix(".py").removeprefix("src/").replace("/", ".").removesuffix(".__init__")
    ctx = IssueContext(module=module, target=cand.target, diff=cand.diff,
                       failures={t: messages.get(t, "") for t in f2p}, n_pass=len(p2p),
                       test_sources=test_sources(src.path, f2p) if writer.name != "template" else {})
    statement, source = writer.write(ctx)
    return Task(cand.id, repo=src.name, base_commit=buggy, problem_statement=statement, patch=fix, test_patch="",
                FAIL_TO_PASS=f2p, PASS_TO_PASS=p2p, version=src.version, environment_setup_commit=buggy,
                extra={"repo_path": str(src.path), "requirements": list(src.requirements),
                       "test_cmd": src.test_cmd, "license": src.license, "origin": src.origin,
                       "mutation": cand.mutation, "mutated_path": cand.path, "mutated_target": cand.target,
                       "test_patch_note": TEST_PATCH_NOTE, "statement_source": source})
