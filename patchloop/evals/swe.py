"""Evaluate one SWE-style instance: fresh workspace, model patch, test patch, tests, verdict.

``evaluate_instance`` is the one grader the CLI, RL rewards and datagen verification call,
so training and measurement cannot disagree on what "resolved" means. The workspace is always
new (``checkout_task_repo``: at ``base_commit``, no later history) with only the submitted diff
applied, never the workspace an agent worked in. See ``grading.py`` for the defences.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shlex
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.evals import grading
from patchloop.evals.junit import FAILED, JUnitError, counts, parse_junit, statuses_for
from patchloop.evals.logparsers import RUNNERS, LogError, runner_name
from patchloop.evals.repos import checkout_task_repo
from patchloop.types import Record, Task

HARNESS_VERSION = 2  # part of every result key: bump when grading rules change (2: non-pytest runners)
DEFAULT_TIMEOUT = 300.0
DEFAULT_REQUIREMENTS = ("pytest",)


@dataclass
class InstanceResult(Record):
    """One verdict. ``tests`` maps each FAIL_TO_PASS/PASS_TO_PASS id to its status."""

    instance_id: str
    verdict: str
    reason: str = ""
    key: str = ""
    model_name_or_path: str = ""
    tests: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    backend: str = ""
    build_s: float = 0.0
    test_s: float = 0.0
    total_s: float = 0.0
    log_path: str = ""

    @property
    def resolved(self) -> bool:
        return self.verdict == grading.RESOLVED


def instance_key(task: Task, model_patch: str, *, run_empty: bool = False) -> str:
    """sha256 of the instance, the patch and the harness version: a changed patch or a
    changed instance is a different result, whatever the run id."""
    data = {k: v for k, v in task.to_dict().items() if not k.startswith("_")}
    blob = json.dumps({"v": HARNESS_VERSION, "task": data, "patch": model_patch, "run_empty": run_empty},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


# ------------------------------------------------------------------ environments

_lock = threading.Lock()
_image_cache: dict[tuple, str] = {}
_image_locks: dict[tuple, threading.Lock] = {}


def resolve_backend(backend: str) -> str:
    """``auto`` -> ``docker`` when an engine answers, else ``local`` (the sandbox package asks,
    once per process, with the same client every Docker sandbox then uses)."""
    if backend != "auto":
        return backend
    from patchloop.sandbox.engine import docker_answers

    return "docker" if docker_answers() else "local"


def requirements_of(task: Task) -> list[str]:
    reqs = task.extra.get("requirements") or list(DEFAULT_REQUIREMENTS)
    if isinstance(reqs, str):
        reqs = json.loads(reqs) if reqs.strip().startswith("[") else reqs.split()
    return [str(r) for r in reqs]


def env_image(task: Task) -> tuple[str, float]:
    """(image tag, seconds spent getting it): one image per repo+version+requirements,
    built once per process key (``ensure_env_image`` also caches across processes)."""
    from patchloop.sandbox.images import ensure_env_image

    reqs = requirements_of(task)
    setup = tuple(task.extra.get("setup") or ())
    key = (task.repo, task.version, tuple(reqs), setup)
    with _lock:
        lock = _image_locks.setdefault(key, threading.Lock())
    with lock:
        if key in _image_cache:
            return _image_cache[key], 0.0
        t0 = time.monotonic()
        tag = ensure_env_image(reqs, setup=setup)
        _image_cache[key] = tag
        return tag, time.monotonic() - t0


# ------------------------------------------------------------------ grading steps


def _restore_script(paths: list[str]) -> str:
    """Shell: put each path back to its base state (tracked -> HEAD version, else gone)."""
    lines = []
    for p in paths:
        q = shlex.quote(p)
        lines.append(f"if git cat-file -e HEAD:{q} 2>/dev/null; then rm -rf -- {q}; git checkout -q HEAD -- {q}; "
                     f"else rm -rf -- {q}; fi")
    return "\n".join(lines) or "true"


def _git_env() -> dict[str, str]:
    from patchloop.sandbox.patching import GIT_ENV  # safe.directory for copied trees, no user config

    return dict(GIT_ENV)


def _changed_paths(sb) -> list[str]:
    """Tracked files that differ from HEAD plus every untracked file, ignored ones included."""
    res = sb.run("git diff --name-only -z HEAD; git ls-files -z --others", timeout=60, env=_git_env())
    return [p for p in res.stdout.split("\0") if p]


def _protect_tests(sb, task: Task) -> tuple[list[str], str]:
    """Reset the test patch's files, the changed files of their test directories and protected
    files to base, then apply the test patch. Returns (paths reset, error text or "")."""
    test_paths = grading.graded_test_files(task)
    changed = _changed_paths(sb)
    protected = [p for p in changed if grading.is_protected(p)] + grading.test_support_files(task, changed)
    name = runner_name(task)  # a non-pytest runner's own files are reset too, changed or not
    runner_files = RUNNERS[name].protected if name in RUNNERS else ()
    paths = sorted(set(test_paths) | set(protected) | set(runner_files))
    res = sb.run(_restore_script(paths), timeout=60, env=_git_env())
    if not res.ok:
        return paths, f"could not restore test files: {res.output[-500:]}"
    if task.test_patch.strip():
        res = sb.apply_patch(task.test_patch)
        if not res.ok:
            return paths, f"test patch does not apply: {res.output[-500:]}"
    return paths, ""


def _test_command(task: Task, python: str, xml_path: str) -> tuple[str, dict[str, str]]:
    ids = list(dict.fromkeys(task.FAIL_TO_PASS + task.PASS_TO_PASS))
    nonce = secrets.token_hex(6)
    # `test_cmd` lets an instance say how pytest starts (a wrapper, extra options); the
    # grader's own options come after it so the instance cannot turn them off.
    runner = str(task.extra.get("test_cmd") or f"{python} -m pytest")
    cmd = (f"mkdir -p {shlex.quote(str(Path(xml_path).parent))} && {runner} -rA -q "
           f"-p no:cacheprovider -o junit_family=xunit1 -o junit_logging=no -o junit_suite_name=pl{nonce} "
           f"--junitxml={shlex.quote(xml_path)} " + " ".join(shlex.quote(i) for i in ids))
    # COLUMNS: pytest cuts each short-summary line at the terminal width (80 with no terminal),
    # which left failure messages such as "AssertionError: asse..." in the logs issue text is read from
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTEST_ADDOPTS": "", "COLUMNS": "400"}
    if not task.extra.get("needs_plugins"):
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return cmd, env


def _safe_name(instance_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", instance_id)[:150] or "instance"


class _Log:
    def __init__(self, path: Path | None):
        self.path = path
        self.parts: list[str] = []

    def add(self, title: str, text: str = "") -> None:
        self.parts.append(f"== {title}\n{text.rstrip()}\n" if text else f"== {title}\n")

    def write(self) -> str:
        if self.path is None:
            return ""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(self.parts), encoding="utf-8")
        return str(self.path)


def evaluate_instance(
    task: Task,
    model_patch: str,
    *,
    backend: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    log_dir: str | Path | None = None,
    limits=None,
    model_name_or_path: str = "",
    run_empty: bool = False,
) -> InstanceResult:
    """Grade ``model_patch`` on ``task`` in a fresh sandbox. Never raises for a bad patch
    or a broken instance: infrastructure failures become verdict ``error`` with the reason.
    ``run_empty`` runs the tests even for an empty patch (``validate`` uses it for the
    before-the-fix state)."""
    t0 = time.monotonic()
    model_patch = model_patch or ""
    log = _Log(Path(log_dir) / f"{_safe_name(task.instance_id)}.log" if log_dir else None)
    result = InstanceResult(task.instance_id, grading.ERROR_VERDICT, key=instance_key(task, model_patch, run_empty=run_empty),
                            model_name_or_path=model_name_or_path)
    try:
        if not model_patch.strip() and not run_empty:
            result.verdict = grading.EMPTY_PATCH
        else:
            _evaluate(task, model_patch, backend, timeout, limits, result, log)
    except Exception as e:  # noqa: BLE001 -- the per-instance boundary: counted as `error`, batch goes on
        result.verdict, result.reason = grading.ERROR_VERDICT, f"{type(e).__name__}: {e}"
        log.add("infrastructure error", traceback.format_exc())
    result.total_s = round(time.monotonic() - t0, 3)
    log.add("verdict", f"{result.verdict} {result.reason}".strip())
    log.add("tests", "\n".join(f"{s:8} {t}" for t, s in result.tests.items()))
    result.log_path = log.write()
    return result


def _evaluate(task, model_patch, backend, timeout, limits, result: InstanceResult, log: _Log) -> None:
    from patchloop.sandbox import open_sandbox

    backend = resolve_backend(backend)
    result.backend = backend
    image, python = None, "python"
    if backend == "docker":
        image, result.build_s = env_image(task)
        log.add("image", f"{image} ({result.build_s:.1f}s)")
    else:
        python = shlex.quote(sys.executable)  # the host venv, which has pytest
    with tempfile.TemporaryDirectory(prefix="patchloop-eval-") as tmp:
        repo = checkout_task_repo(task, Path(tmp) / "repo")
        with open_sandbox(backend, repo=repo, image=image, limits=limits, task_id=task.instance_id) as sb:
            if model_patch.strip():
                res = sb.apply_patch(model_patch)
                log.add("model patch", res.output)
                if not res.ok:
                    result.verdict, result.reason = grading.PATCH_FAILED, res.output.strip()[-300:]
                    return
            test_paths = set(grading.graded_test_files(task))
            findings = grading.tamper_findings(model_patch, test_paths)
            if findings and not task.extra.get("allow_test_machinery"):
                result.verdict = grading.UNRESOLVED
                result.reason = "patch reaches into the test runner: " + "; ".join(findings[:5])
                return
            reset, err = _protect_tests(sb, task)
            log.add("reset to base, then test patch applied", "\n".join(reset))
            if err:
                result.verdict, result.reason = grading.ERROR_VERDICT, err
                return
            _run_tests(sb, task, python, timeout, result, log)


def _run_tests(sb, task: Task, python: str, timeout: float, result: InstanceResult, log: _Log) -> None:
    """Run the listed tests with a JUnit report at a random path outside the workspace, then grade."""
    from patchloop.sandbox import SandboxError

    if runner_name(task) != "pytest":
        return _run_log_tests(sb, task, python, timeout, result, log)

    xml_path = f"/tmp/pl-junit-{secrets.token_hex(8)}/report.xml"
    cmd, env = _test_command(task, python, xml_path)
    run = _timed_test_run(sb, cmd, timeout, env, result, log)
    report = None
    if not run.timed_out:
        try:
            report = parse_junit(sb.read_file(xml_path))
        except SandboxError:
            raise  # the sandbox itself failed: an infrastructure error, not a missing report
        except (JUnitError, OSError, ValueError) as e:  # absent, unreadable or untrustworthy
            log.add("junit report unusable", f"{type(e).__name__}: {e}")
    ids = list(dict.fromkeys(task.FAIL_TO_PASS + task.PASS_TO_PASS))
    statuses = statuses_for(report, ids) if report is not None else None
    result.tests = statuses or {}
    result.verdict, result.reason = grading.grade(
        task.FAIL_TO_PASS, task.PASS_TO_PASS, statuses, exit_code=run.exit_code,
        report_failures=grading.failure_count(report or {}), timed_out=run.timed_out)
    if report is not None:
        log.add("report counts", json.dumps(counts(report)))


RUNNER_LOG_CAP = 32 * 1024**2  # bytes of a non-pytest runner's log kept per stream


def _timed_test_run(sb, cmd: str, timeout: float, env: dict, result: InstanceResult, log: _Log,
                    cap: int | None = None):
    """Run the test command, recording its time, exit code and output in the result and log."""
    t1 = time.monotonic()
    run = sb.run(cmd, timeout=timeout, env=env, cap=cap)
    result.test_s = round(time.monotonic() - t1, 3)
    result.exit_code = run.exit_code
    log.add(f"tests: exit {run.exit_code}{' (timed out)' if run.timed_out else ''}", f"$ {cmd}\n{run.output}")
    return run


def _run_log_tests(sb, task: Task, python: str, timeout: float, result: InstanceResult, log: _Log) -> None:
    """A non-pytest runner (``logparsers.RUNNERS``): status from its log, checked against its
    own summary line and, in ``grading.grade``, against its exit code."""
    runner = RUNNERS[runner_name(task)]
    cmd = runner.command(task, python)
    # Every status line is evidence here, so the log gets a far larger cap than a command's
    # usual one: a cut in the middle would fail the summary check and lose the verdict.
    run = _timed_test_run(sb, cmd, timeout, {"PYTHONDONTWRITEBYTECODE": "1"}, result, log, cap=RUNNER_LOG_CAP)
    parsed = None
    if not run.timed_out:
        try:
            parsed = runner.parse(run.output)
        except LogError as e:
            log.add("test log unusable", str(e))
    ids = list(dict.fromkeys(task.FAIL_TO_PASS + task.PASS_TO_PASS))
    result.tests = {i: parsed.get(i, FAILED) for i in ids} if parsed is not None else {}
    result.verdict, result.reason = grading.grade(
        task.FAIL_TO_PASS, task.PASS_TO_PASS, result.tests if parsed is not None else None,
        exit_code=run.exit_code, report_failures=grading.failure_count(parsed or {}), timed_out=run.timed_out)
    if parsed is None and result.verdict == grading.UNRESOLVED:
        result.reason = f"test log has no runner summary agreeing with its lines (exit code {run.exit_code})"
