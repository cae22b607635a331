"""Function-level grading: many completions, one sandbox, one fork server.

``grade_function_batch`` is the single verdict on "does this code pass this function task".
Evaluation (``patchloop eval func``), RL rewards and datagen verification all call it, so they
can never disagree on what "passed" means. Statuses follow EvalPlus: PASS, FAIL, TIMEOUT, plus
ERROR when the grader itself could not decide (``infra_error``: RL maps it to a ``None`` reward).

What a completion is (a body, a whole function in a chat reply, fenced or not, with prose
around it) is decided once, by ``patchloop.evals.extract``, before anything runs.

How a batch runs: the host writes the server's files (``SERVER_FILES``), a jobs file (programs,
entry points, timeouts) and one test file per sample into a fresh directory of the sandbox,
then runs the server once per chunk. See ``func_server`` for the per-sample processes and the
anti-tampering protocol. Structured tests (``extra["cases"]``: ``{"args": [...], "expected": v}``)
never send expected values into the sandbox: the sandbox returns what the candidate returned,
and the comparison happens here, on the host.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchloop.evals.extract import build_program, defines, extract_completion  # noqa: F401 -- the grader's API
from patchloop.evals.func.codec import CodecError, decode, values_equal
from patchloop.sandbox.base import SandboxError
from patchloop.types import FunctionTask, Record

PASS, FAIL, TIMEOUT, ERROR = "PASS", "FAIL", "TIMEOUT", "ERROR"
CHUNK = 32  # samples per server run: bounds the output size and what one crash can cost
_HERE = Path(__file__).parent
# The in-sandbox grader server and every module it imports: all of them travel into the sandbox,
# where they sit side by side under these names (the name there: the file in this package), and
# import each other by those names.
SERVER_FILES = {"func_server.py": "server.py", "func_judge.py": "judge.py", "func_proxy.py": "proxy.py",
                "func_candidate.py": "candidate.py", "func_procs.py": "procs.py",
                "func_scratch.py": "scratch.py", "func_codec.py": "codec.py"}


@dataclass
class FuncResult(Record):
    """The verdict on one completion. ``fraction`` is tests passed / total (partial credit)."""

    task_id: str
    status: str
    passed: bool = False
    fraction: float = 0.0
    infra_error: bool = False
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FuncLimits:
    """Per-sample limits inside the sandbox (on top of the sandbox's own)."""

    memory_bytes: int = 1024**3
    file_bytes: int = 16 * 1024**2
    nproc: int = 32
    grace_s: float = 5.0


def test_spec(task: FunctionTask) -> tuple[str, dict[str, Any], list[Any] | None]:
    """(kind, what goes into the sandbox, expected values kept on the host)."""
    cases = task.extra.get("cases")
    if isinstance(cases, str):  # a dataset column stores them as JSON text
        cases = json.loads(cases)
    if cases:
        args = [list(c["args"]) for c in cases]
        return "cases", {"args": args}, [c["expected"] for c in cases]
    asserts = task.extra.get("test_list")
    if isinstance(asserts, str):
        asserts = json.loads(asserts)
    if asserts:
        setup = "\n".join(task.extra.get("test_imports") or []) + "\n" + (task.extra.get("test_setup_code") or "")
        return "asserts", {"asserts": list(asserts), "setup": setup, "prompt": task.prompt}, None
    if not task.test.strip():
        raise ValueError(f"{task.task_id}: task has no tests")
    return "check", {"test": task.test, "prompt": task.prompt}, None


def _score(report: dict, kind: str, expected: list | None, partial: bool, task_id: str) -> FuncResult:
    if "infra" in report:
        return FuncResult(task_id, ERROR, infra_error=True, detail=report["infra"])
    total = int(report.get("total") or 0)
    if kind == "cases":
        outs = report.get("outs") or []
        good, why = 0, ""
        for i, exp in enumerate(expected or []):
            out = outs[i] if i < len(outs) else None
            try:
                ok = out is not None and "v" in out and values_equal(decode(out["v"]), exp)
            except (CodecError, RecursionError, TypeError, ValueError):
                ok = False
            good += ok
            if not ok and not why and out is not None:
                why = f"case {i}: " + (out.get("exc") or f"returned {json.dumps(out.get('v'))[:100]}, expected {json.dumps(exp)[:100]}")
        total, passed_n = len(expected or []), good
    else:
        passed_n, why = int(report.get("passed") or 0), report.get("detail", "")
    state = report.get("state") or ""
    all_ok = total > 0 and passed_n == total and not state and "judge_failed" not in report
    all_ok = all_ok and (kind == "cases" or report.get("calls", 0) > 0)  # a test that never called
    frac = (passed_n / total if total else 0.0) if partial else float(all_ok)
    if kind != "cases" and not report.get("calls"):
        frac = 0.0  # asserts that never called the candidate prove nothing about it
    if state == "timeout":
        return FuncResult(task_id, TIMEOUT, fraction=frac, detail="time limit exceeded")
    if all_ok:
        return FuncResult(task_id, PASS, passed=True, fraction=1.0)
    detail = state.removeprefix("died: ") or report.get("judge_failed") or why or "tests failed"
    return FuncResult(task_id, FAIL, fraction=frac, detail=str(detail)[:500])


def _parse(stdout: str, n: int) -> tuple[list[dict] | None, int | None]:
    """The report block after the last PLEND (None if incomplete) and the last started job."""
    lines = stdout.splitlines()
    started = None
    for line in lines:
        if line.startswith("PLS ") and line[4:].isdigit():
            started = int(line[4:])
    if "PLEND" not in lines:
        return None, started
    block = lines[len(lines) - 1 - lines[::-1].index("PLEND") + 1:]
    if len(block) != n + 1 or block[-1] != f"PLDONE {n}":
        return None, started
    try:
        reports = [json.loads(b) for b in block[:-1]]
    except json.JSONDecodeError:
        return None, started
    if [r.get("i") for r in reports] != list(range(n)):
        return None, started
    return reports, started


def _python_for(sandbox: Any) -> str:
    """The local backend runs on this host: prefer the system interpreter (world-readable, so a
    candidate with its own uid can import the standard library), else this one."""
    if "local" not in type(sandbox).__name__.lower():
        return "python3"
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


# Unpacks one uploaded bundle in a process of its own, so the server that starts next never
# holds test bytes in memory (its candidates are forked from it and could read them).
_UNPACK = (
    "import json,os,sys\n"
    "d=sys.argv[1]; os.chmod(d,0o700); p=os.path.join(d,'bundle.json')\n"
    "b=json.load(open(p,encoding='utf-8')); os.unlink(p)\n"
    "for n,t in b.items():\n"
    "    with open(os.path.join(d,n),'w',encoding='utf-8') as f: f.write(t)\n"
)


def _run_chunk(sandbox: Any, jobs: list[dict], tests: list[dict], limits: FuncLimits, timeout_s: float):
    """One server run. Returns (reports or None, index of the last started job, log)."""
    import shlex

    where = f"/tmp/plfunc-{secrets.token_hex(8)}"
    files = {name: (_HERE / source).read_text(encoding="utf-8") for name, source in SERVER_FILES.items()}
    files["jobs.json"] = json.dumps({"jobs": jobs, "limits": vars(limits)})
    files.update({f"test-{i}.json": json.dumps(t) for i, t in enumerate(tests)})
    sandbox.write_file(f"{where}/bundle.json", json.dumps(files))
    py = shlex.quote(_python_for(sandbox))
    cmd = (f"cd / && {py} -I -c {shlex.quote(_UNPACK)} {where} && "
           f"exec {py} -I {where}/func_server.py {where}")
    budget = sum(j["timeout"] + limits.grace_s for j in jobs) + 30
    res = sandbox.run(cmd, timeout=budget)
    reports, started = _parse(res.stdout, len(jobs))
    finished = res.exit_code == 0 and not res.timed_out
    if not finished:
        reports = None  # only a server that ended normally vouches for its block
    return reports, started, finished, (res.stderr or res.stdout)[-400:]


def grade_function_batch(
    tasks: Sequence[FunctionTask] | FunctionTask,
    completions: Sequence[str],
    *,
    sandbox: Any = None,
    backend: str = "auto",
    timeout_s: float = 5.0,
    partial: bool = False,
    limits: FuncLimits | None = None,
    chunk: int = CHUNK,
) -> list[FuncResult]:
    """Grade ``completions[i]`` against ``tasks[i]`` (or one task for all) in ONE sandbox.

    Never raises for a bad completion or an infrastructure failure: each sample gets a
    ``FuncResult``; infrastructure failures are ``ERROR`` with ``infra_error=True``.
    """
    if isinstance(tasks, FunctionTask):
        tasks = [tasks] * len(completions)
    if len(tasks) != len(completions):
        raise ValueError(f"{len(tasks)} tasks but {len(completions)} completions")
    limits = limits or FuncLimits()
    results: list[FuncResult | None] = [None] * len(completions)
    prepared: dict[int, tuple[dict, dict, str, list | None]] = {}
    for i, (task, comp) in enumerate(zip(tasks, completions)):
        try:
            kind, test, expected = test_spec(task)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            results[i] = FuncResult(task.task_id, ERROR, infra_error=True, detail=f"bad task: {e}")
            continue
        job = {"program": build_program(task, comp), "entry_point": task.entry_point,
               "kind": kind, "timeout": float(timeout_s)}
        prepared[i] = (job, test, kind, expected)
    own = sandbox is None and bool(prepared)
    if own:
        from patchloop.sandbox import open_sandbox

        try:
            sandbox = open_sandbox(backend=backend, task_id="func-grader")
        except SandboxError as e:
            return [r or FuncResult(tasks[i].task_id, ERROR, infra_error=True, detail=str(e))
                    for i, r in enumerate(results)]
    try:
        _grade_prepared(sandbox, prepared, tasks, results, limits, timeout_s, partial, chunk)
    finally:
        if own:
            sandbox.close()
    return [r for r in results if r is not None]


def _grade_prepared(sandbox, prepared, tasks, results, limits, timeout_s, partial, chunk) -> None:
    pending = sorted(prepared)
    while pending:
        batch, pending = pending[:chunk], pending[chunk:]
        try:
            reports, started, finished, log = _run_chunk(
                sandbox, [prepared[i][0] for i in batch], [prepared[i][1] for i in batch], limits, timeout_s)
        except (SandboxError, OSError) as e:
            for i in batch:
                results[i] = FuncResult(tasks[i].task_id, ERROR, infra_error=True, detail=str(e)[:500])
            continue
        if reports is not None:
            for i, rep in zip(batch, reports):
                _, _, kind, expected = prepared[i]
                results[i] = _score(rep, kind, expected, partial, tasks[i].task_id)
            continue
        if finished:  # the server ended normally but its block did not arrive whole (output cap)
            if len(batch) == 1:
                results[batch[0]] = FuncResult(tasks[batch[0]].task_id, ERROR, infra_error=True,
                                               detail=f"grader report unreadable: {log}")
            else:
                half = len(batch) // 2
                pending = [*batch[:half], *batch[half:], *pending]
                chunk = max(1, half)
            continue
        if started is None:  # the server never got going: nothing a sample did
            for i in batch:
                results[i] = FuncResult(tasks[i].task_id, ERROR, infra_error=True,
                                        detail=f"grader did not start: {log}")
            continue
        # The server died while sample `started` ran (a candidate killed it): that sample
        # fails, the others run again.
        bad = batch[started]
        results[bad] = FuncResult(tasks[bad].task_id, FAIL, detail="the grader was killed while this sample ran")
        pending = [i for i in batch if i != bad] + pending


class FunctionGrader:
    """``grade_function_batch`` with one sandbox kept open across calls, for reward functions
    that grade batch after batch. Picklable (the sandbox is not pickled; it reopens lazily),
    and a sandbox that failed a whole batch is replaced at the next call. Calls from several
    threads (datagen's workers) take turns on the one sandbox."""

    def __init__(self, backend: str = "auto", *, timeout_s: float = 5.0, partial: bool = False,
                 limits: FuncLimits | None = None):
        self.backend, self.timeout_s, self.partial, self.limits = backend, timeout_s, partial, limits
        self.sandbox: Any = None
        self._lock = threading.Lock()

    def __call__(self, tasks: Sequence[FunctionTask] | FunctionTask, completions: Sequence[str]) -> list[FuncResult]:
        with self._lock:
            return self._grade(tasks, completions)

    def _grade(self, tasks: Sequence[FunctionTask] | FunctionTask, completions: Sequence[str]) -> list[FuncResult]:
        if self.sandbox is None:
            from patchloop.sandbox import open_sandbox

            try:
                self.sandbox = open_sandbox(backend=self.backend, task_id="func-grader")
            except SandboxError as e:
                n = len(completions)
                ids = [tasks.task_id] * n if isinstance(tasks, FunctionTask) else [t.task_id for t in tasks]
                return [FuncResult(i, ERROR, infra_error=True, detail=str(e)) for i in ids]
        results = grade_function_batch(tasks, completions, sandbox=self.sandbox, timeout_s=self.timeout_s,
                                       partial=self.partial, limits=self.limits)
        if results and all(r.infra_error for r in results):
            self.close()  # a broken sandbox: the next call starts a fresh one
        return results

    def close(self) -> None:
        if self.sandbox is not None:
            try:
                self.sandbox.close()
            finally:
                self.sandbox = None

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"} | {"sandbox": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to clean politely
            pass
