"""Test runners that are not pytest: how to start them and how to read their logs.

Official SWE-bench instances from Django and SymPy are graded by running the repository's own
runner and reading per-test status from its terminal output, as SWE-bench's harness does
(``MAP_REPO_TO_PARSER``). ``RUNNERS`` maps a runner name to a ``Runner``: a command builder,
a log parser and the runner's own files (reset to base before the run, like ``conftest.py``
for pytest, so a patch cannot rewrite the runner into one that prints "OK").

A task picks its runner with ``extra["test_runner"]`` (``pytest``, ``django``, ``sympy``);
without it, ``django/django`` and ``sympy/sympy`` default to their runners, everything else
to pytest (graded from JUnit XML in ``swe.py``, not here).

Why the log is not simply trusted: the code under test writes to the same stream as the
runner, so it can print ``test_x (mod.Class) ... ok``. Defences:

- the runner's own closing summary (Django ``Ran N tests`` then ``OK``/``FAILED (...)``;
  SymPy ``tests finished: N passed, ...``) must exist and agree with the parsed per-test
  counts; the *last* summary is used, because the real one is printed after every test ran.
  A forged status line adds a test the summary does not count and the whole log is refused
  (``LogError`` -> unresolved); a test that prints ``ok`` and then fails leaves the counts
  disagreeing too;
- a test named twice keeps its worst status; skipped/expected failure is never passed; a
  listed test missing from the log is failed; ``grading.grade`` cross-checks the exit code
  (all listed tests passing with a non-zero exit is unresolved, exit 0 with failures too).

Undefended (document, do not pretend): a patch that prints forged lines *and* a forged
summary after the real one (e.g. from an ``atexit`` hook, or by rewriting ``sys.stdout``)
*and* forges the exit status passes; so does one that monkeypatches ``unittest`` or SymPy's
reporter from package code (``grading.tamper_findings`` only scans for pytest internals and
``os._exit``). Only the test patch's files and the runner's own files are reset: SWE-bench
ids name no file, so a PASS_TO_PASS test in a file the test patch does not touch could be
edited by the patch. SymPy ids are bare function names, so two listed tests of the same name
in different files share one status (worst wins).

Not a defence but a limit: the sandbox caps each stream (``SandboxLimits.output_bytes``, head
and tail kept) and gives stdout then stderr, not interleaved; a log cut in the middle loses
status lines, the counts disagree and the instance is unresolved (a false negative, never a
false pass). Raise the cap for very large Django modules.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import NamedTuple

from patchloop.evals.grading import patch_paths
from patchloop.evals.junit import ERROR, FAILED, PASSED, SKIPPED
from patchloop.types import Task

_RANK = {PASSED: 0, SKIPPED: 1, FAILED: 2, ERROR: 3}
DEFAULT_BY_REPO = {"django/django": "django", "sympy/sympy": "sympy"}
_NON_TEST_EXTS = (".json", ".png", ".csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")


class LogError(ValueError):
    """The log cannot be trusted: no runner summary, or one that disagrees with the lines."""


class Runner(NamedTuple):
    command: Callable[[Task, str], str]  # (task, python) -> shell command
    parse: Callable[[str], dict[str, str]]  # log -> {test id: status}; raises LogError
    protected: tuple[str, ...]  # runner files reset to base before the run


def runner_name(task: Task) -> str:
    """``extra["test_runner"]``, else the official repo's runner, else ``pytest``."""
    name = str(task.extra.get("test_runner") or DEFAULT_BY_REPO.get(task.repo, "pytest"))
    if name != "pytest" and name not in RUNNERS:
        raise ValueError(f"unknown test_runner {name!r} (known: pytest, {', '.join(sorted(RUNNERS))})")
    return name


def _test_files(task: Task) -> list[str]:
    return [p for p in patch_paths(task.test_patch) if not p.endswith(_NON_TEST_EXTS)]


def _put(statuses: dict[str, str], test: str, status: str) -> None:
    old = statuses.get(test)
    statuses[test] = status if old is None or _RANK[status] > _RANK[old] else old


# ------------------------------------------------------------------ Django (unittest verbose)

_DJ_ID = re.compile(r"^(\w+) \(([\w.]+)\)")
_DJ_STATUS = [(" ... ok", PASSED), (" ... OK", PASSED), (" ... FAIL", FAILED), (" ... ERROR", ERROR),
              (" ... expected failure", SKIPPED), (" ... unexpected success", FAILED)]
_DJ_RAN = re.compile(r"^Ran (\d+) tests? in [\d.]+s\s*\n+\s*(OK|FAILED)(?: \(([^)\n]*)\))?\s*$", re.MULTILINE)


def django_labels(task: Task) -> list[str]:
    """SWE-bench's directives: test patch files as dotted modules below ``tests/``; without a
    test patch, the ``mod.Class`` of every listed id."""
    labels = []
    for p in _test_files(task):
        p = p.removesuffix(".py").removeprefix("tests/")
        labels.append(p.replace("/", "."))
    if not labels:
        labels = [m.group(2) for i in task.FAIL_TO_PASS + task.PASS_TO_PASS if (m := _DJ_ID.match(i))]
    if not labels:
        raise ValueError("django runner: no test labels (test patch names no files, ids are not 'test (mod.Class)')")
    return list(dict.fromkeys(labels))


def django_command(task: Task, python: str) -> str:
    start = str(task.extra.get("test_cmd") or f"{python} ./tests/runtests.py")
    return (f"{start} --verbosity 2 --settings=test_sqlite --parallel 1 "
            + " ".join(shlex.quote(lbl) for lbl in django_labels(task)))


def _bare_status(line: str) -> str | None:
    word = line.strip()
    if word.startswith("skipped"):
        return SKIPPED
    return next((s for suf, s in _DJ_STATUS if suf[5:] == word), None)


def _django_id(name: str, cls: str) -> str:
    # Python >= 3.11 prints `test_x (mod.Class.test_x)`; SWE-bench ids are `test_x (mod.Class)`.
    return f"{name} ({cls.removesuffix('.' + name)})"


def parse_django(log: str) -> dict[str, str]:
    """Per-test status from ``runtests.py --verbosity 2``. A test with a docstring prints
    ``test_x (mod.Class)`` then ``First docstring line ... ok``: both are recorded (SWE-bench
    ids use the docstring line). Raises ``LogError`` when the summary disagrees."""
    tests: dict[str, str] = {}  # canonical id -> status
    aliases: dict[str, str] = {}  # docstring line -> canonical id
    pending = None  # an id line without a status yet
    for raw in log.splitlines():
        line = raw.rstrip()
        m = _DJ_ID.match(line)
        status = next((s for suf, s in _DJ_STATUS if line.endswith(suf)), None)
        if status is None and " ... skipped" in line:
            status = SKIPPED
        if m:
            test = _django_id(m.group(1), m.group(2))
            if status is None:
                pending = test  # docstring line, or output printed by the test, comes next
                continue
            _put(tests, test, status)
        elif pending is not None and (bare := _bare_status(line)) is not None:
            _put(tests, pending, bare)  # the test printed output after ` ... `: status on its own line
            status = bare
        elif status is not None and pending is not None:
            doc = line.split(" ... ", 1)[0].strip()
            _put(tests, pending, status)
            aliases[doc] = pending
        pending = None if status is not None else pending
    summary = list(_DJ_RAN.finditer(log))
    if not summary:
        raise LogError("no 'Ran N tests' summary from the runner")
    ran, verdict, detail = summary[-1].groups()
    counts = dict(re.findall(r"([a-z ]+)=(\d+)", detail or ""))
    counts = {k.strip(): int(v) for k, v in counts.items()}
    got = {st: sum(1 for s in tests.values() if s == st) for st in _RANK}
    want_bad = counts.get("failures", 0) + counts.get("unexpected successes", 0)
    if (int(ran) != len(tests) or got[ERROR] != counts.get("errors", 0) or got[FAILED] != want_bad
            or got[SKIPPED] != counts.get("skipped", 0) + counts.get("expected failures", 0)
            or (verdict == "OK") != (got[FAILED] + got[ERROR] == 0)):
        raise LogError(f"summary 'Ran {ran} tests ... {verdict} ({detail or ''})' disagrees with "
                       f"{len(tests)} parsed tests {got}")
    return tests | {doc: tests[t] for doc, t in aliases.items() if doc not in tests}


# ------------------------------------------------------------------ SymPy (bin/test --verbose)

_SY_LINE = re.compile(r"^(test_\w+) (.*?)(?:\s+\[(?:OK|FAIL|\w+)\])?$")
_SY_CHAR = {"ok": PASSED, "F": FAILED, "E": ERROR, "T": ERROR, "f": SKIPPED, "X": FAILED}
_SY_SKIP = re.compile(r"(?:^|\s)[sKTw]$|^[sKTw] - ")
_SY_SUMMARY = re.compile(r"tests finished:(.*?)in [\d.]+\s+seconds", re.DOTALL)


def sympy_command(task: Task, python: str) -> str:
    files = [p for p in _test_files(task) if p.endswith(".py")]
    if not files:
        raise ValueError("sympy runner: the test patch names no test files")
    start = str(task.extra.get("test_cmd") or f"{python} bin/test")
    return f"{start} -C --verbose " + " ".join(shlex.quote(f) for f in files)


def parse_sympy(log: str) -> dict[str, str]:
    """Per-test status from ``bin/test --verbose`` lines ``test_x ok|F|E|f|X|<skip> s``,
    checked against the closing ``tests finished:`` summary (``LogError`` if they disagree)."""
    tests: dict[str, str] = {}
    for raw in log.splitlines():
        m = _SY_LINE.match(raw.strip())
        if not m:
            continue
        rest = m.group(2).strip()
        status = _SY_CHAR.get(rest) or (SKIPPED if _SY_SKIP.search(rest) else None)
        if status is not None:
            _put(tests, m.group(1), status)
    summary = list(_SY_SUMMARY.finditer(log))
    if not summary:
        raise LogError("no 'tests finished:' summary from the runner")
    text = " ".join(summary[-1].group(1).split())
    n = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|expected to fail, but passed"
                                         r"|expected to fail(?!, but)|exceptions)", text)}
    got = {st: sum(1 for s in tests.values() if s == st) for st in _RANK}
    bad = n.get("failed", 0) + n.get("expected to fail, but passed", 0)
    if (got[PASSED] != n.get("passed", 0) or got[FAILED] != bad or got[ERROR] != n.get("exceptions", 0)
            or got[SKIPPED] != n.get("skipped", 0) + n.get("expected to fail", 0)):
        raise LogError(f"summary 'tests finished: {text}' disagrees with parsed tests {got}")
    return tests


RUNNERS: dict[str, Runner] = {
    "django": Runner(django_command, parse_django, ("tests/runtests.py", "tests/test_sqlite.py")),
    "sympy": Runner(sympy_command, parse_sympy,
                    ("bin/test", "sympy/testing/runtests.py", "sympy/utilities/runtests.py")),
}
