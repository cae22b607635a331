"""Verdicts from per-test status, and the rules that keep a patch from grading itself.

The grader is adversarial code: the patch under test runs inside the pytest process that
reports on it. What this module decides, and why:

- **resolved** iff every FAIL_TO_PASS and PASS_TO_PASS test is PASSED in the JUnit report
  *and* pytest exited 0. Only the listed tests are selected, so an honest all-pass run exits 0;
  an exit code that disagrees with the report (0 with failures, or non-zero with all listed
  tests passing) means something rewrote one of them, and is unresolved.
- SKIPPED (and xfail, which JUnit reports as skipped) is never passed; a listed test missing
  from the report did not run and is FAILED.
- Test infrastructure belongs to the instance, not to the patch. After the model patch is
  applied, every file the test patch names, and the file of every listed test, is reset to
  the base and the test patch applied on top (a diff that edited the tests is overridden), and ``PROTECTED`` files the model patch
  added or changed (``conftest.py`` anywhere, pytest ini files, ``sitecustomize``) are reset
  too: a ``conftest.py`` with a ``pytest_runtest_makereport`` hookwrapper could otherwise
  rewrite every failure into a pass. The repository's own conftest files stay in force
  (``--noconftest`` would break suites that need their fixtures).
- ``tamper_findings`` flags patches whose added lines reach into the test runner from
  ordinary modules (pytest hooks or internals, the JUnit writer, ``os._exit``, ``addopts``).
  Code under test shares the pytest process, so a determined patch could monkeypatch pytest
  from the package itself; this scan closes the obvious doors, it is not a proof. Instances
  of repositories that legitimately touch pytest (pytest plugins, pytest itself) set
  ``allow_test_machinery: true``.

Known limit, shared with every in-process harness (SWE-bench's included): code under test
runs inside the pytest process, so a patch that deliberately both rewrites the report after
pytest wrote it *and* forges the process exit status, while naming none of the identifiers
the scan looks for, is not caught. Rewriting the report alone is (exit-code cross-check:
``test_report_rewritten_at_exit_is_caught_by_the_exit_code``).
"""

from __future__ import annotations

import re

from patchloop.evals.junit import ERROR, FAILED, PASSED

RESOLVED, UNRESOLVED = "resolved", "unresolved"
PATCH_FAILED, EMPTY_PATCH, TIMEOUT, ERROR_VERDICT = "patch_failed", "empty_patch", "timeout", "error"
VERDICTS = (RESOLVED, UNRESOLVED, PATCH_FAILED, EMPTY_PATCH, TIMEOUT, ERROR_VERDICT)

PROTECTED_NAMES = ("conftest.py", "pytest.ini", ".pytest.ini", "tox.ini", "sitecustomize.py", "usercustomize.py")
_TAMPER = re.compile(
    r"\bpytest_(?:runtest_\w+|report_\w+|collection\w*|sessionfinish|sessionstart|configure|"
    r"terminal_summary|plugins|make_collect_report|pyfunc_call)\b"
    r"|\b_pytest\b|\bjunitxml\b|\bxmlpath\b|\bLogXML\b|\bos\._exit\b|\baddopts\b"
    r"|PYTEST_ADDOPTS|PYTEST_PLUGINS|\bhookwrapper\b|\bhookimpl\b"
)
_GIT_HEADER = re.compile(r"^diff --git a/(.+?) b/(.+)$", re.MULTILINE)
_FILE_HEADER = re.compile(r"^(?:---|\+\+\+) (?:[ab]/)?([^\t\n]+)", re.MULTILINE)


def patch_paths(diff: str) -> list[str]:
    """Every path a unified diff names (old and new sides), without a/ b/ prefixes.
    ``diff --git`` headers are trusted first: a hunk line could look like a ``---`` header."""
    found = [p for m in _GIT_HEADER.finditer(diff) for p in m.groups()]
    if not found:
        found = _FILE_HEADER.findall(diff)
    return sorted({p.strip().strip('"') for p in found if p.strip() != "/dev/null"})


def graded_test_files(task) -> list[str]:
    """Files the verdict depends on: those the test patch names, and the file of every
    FAIL_TO_PASS/PASS_TO_PASS test (SWE-bench resets only the former; a patch that broke
    behaviour could otherwise also rewrite a PASS_TO_PASS test in another file to hide it)."""
    ids = task.FAIL_TO_PASS + task.PASS_TO_PASS
    listed = {i.split("::", 1)[0] for i in ids if "::" in i and i.split("::", 1)[0].endswith(".py")}
    return sorted(set(patch_paths(task.test_patch)) | listed)


def is_protected(path: str) -> bool:
    return path.rsplit("/", 1)[-1] in PROTECTED_NAMES


TEST_DIR_NAMES = ("test", "tests", "testing")


def test_support_files(task, paths) -> list[str]:
    """Of ``paths``, those inside a test directory that holds a graded test file: the helpers,
    ``__init__.py`` and fixture data the graded tests import or read. An edit to
    ``tests/helpers.py`` decides the verdict as surely as one to the test itself. Only
    directories named ``test``/``tests``/``testing`` count, so tests kept at the repository
    root (``test_six.py``) or beside the code do not make the code itself "test support"."""
    roots = set()
    for graded in graded_test_files(task):
        parts = graded.split("/")[:-1]
        for i, part in enumerate(parts):
            if part in TEST_DIR_NAMES:
                roots.add("/".join(parts[: i + 1]) + "/")
                break
    return sorted(p for p in paths if any(p.startswith(r) for r in roots))


CONFIG_FILES = ("pyproject.toml", "setup.cfg")  # files that may hold a pytest section among other things
_PYTEST_CONFIG = re.compile(
    r"^[+-]\s*(?:\[(?:tool\.pytest[^\]]*|tool:pytest|pytest)\]|(?:addopts|python_files|python_classes|"
    r"python_functions|testpaths|pythonpath|required_plugins|usefixtures|xfail_strict|norecursedirs|"
    r"confcutdir|filterwarnings|minversion|markers|log_cli\w*)\s*=)", re.MULTILINE)


def edited_test_files(task, model_patch: str, runner_files: tuple[str, ...] = ()) -> list[str]:
    """Paths ``model_patch`` touches that decide its own verdict: the graded test files, the
    files beside them in their test directory (``test_support_files``), and the test machinery
    (``PROTECTED_NAMES`` anywhere, ``runner_files`` of a non-pytest runner, and
    ``CONFIG_FILES`` where a changed line is a pytest section or one of pytest's ini keys).

    The harness resets those files before the tests run, so such a patch cannot grade itself
    there; a reward is stricter and pays nothing for one (a policy must not learn that editing
    the tests is part of a fix). Evaluation keeps the harness rule (SWE-bench's)."""
    graded, touched = set(graded_test_files(task)), patch_paths(model_patch)
    found = [p for p in touched if p in graded or is_protected(p) or p in runner_files]
    found += test_support_files(task, touched)
    heads = list(_GIT_HEADER.finditer(model_patch))
    for i, m in enumerate(heads):
        body = model_patch[m.end(): heads[i + 1].start() if i + 1 < len(heads) else None]
        if m.group(2).rsplit("/", 1)[-1] in CONFIG_FILES and _PYTEST_CONFIG.search(body):
            found.append(m.group(2))
    return sorted(set(found))


def tamper_findings(model_patch: str, test_paths: set[str]) -> list[str]:
    """Added lines (outside the test patch's files, which are overwritten anyway) that
    reach into the test runner, as ``path: matched text``."""
    findings = []
    current = ""
    for line in model_patch.splitlines():
        if line.startswith("+++ "):
            current = line[4:].strip().removeprefix("b/")
        elif line.startswith("+") and current not in test_paths and not is_protected(current):
            m = _TAMPER.search(line)
            if m:
                findings.append(f"{current}: {m.group(0)}")
    return findings


def grade(
    fail_to_pass: list[str],
    pass_to_pass: list[str],
    statuses: dict[str, str] | None,
    *,
    exit_code: int | None,
    report_failures: int = 0,
    timed_out: bool = False,
) -> tuple[str, str]:
    """(verdict, reason) for one test run.

    ``statuses`` maps every listed id to its status (None: no usable report);
    ``report_failures`` counts FAILED/ERROR entries anywhere in the report.
    """
    if timed_out:
        return TIMEOUT, "the test run hit its time limit"
    if statuses is None:
        return UNRESOLVED, f"no usable JUnit report (pytest exit code {exit_code})"
    bad_f2p = [t for t in fail_to_pass if statuses.get(t) != PASSED]
    bad_p2p = [t for t in pass_to_pass if statuses.get(t) != PASSED]
    if exit_code == 0 and report_failures:
        return UNRESOLVED, f"pytest exited 0 but the report has {report_failures} failure(s): report tampered with"
    if bad_f2p or bad_p2p:
        parts = []
        if bad_f2p:
            parts.append(f"{len(bad_f2p)}/{len(fail_to_pass)} FAIL_TO_PASS not passing ({_first(bad_f2p, statuses)})")
        if bad_p2p:
            parts.append(f"{len(bad_p2p)}/{len(pass_to_pass)} PASS_TO_PASS broken ({_first(bad_p2p, statuses)})")
        return UNRESOLVED, "; ".join(parts)
    if exit_code != 0:
        return UNRESOLVED, f"every listed test passed in the report but pytest exited {exit_code}"
    return RESOLVED, ""


def _first(ids: list[str], statuses: dict[str, str]) -> str:
    tid = ids[0]
    return f"{tid}: {statuses.get(tid, 'missing')}"


def failure_count(report: dict) -> int:
    return sum(1 for s in report.values() if s in (FAILED, ERROR))
