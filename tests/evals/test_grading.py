"""The verdict table: JUnit statuses cross-checked with the exit code, and the tamper scan."""

from __future__ import annotations

import pytest

from patchloop.evals.grading import grade, graded_test_files, patch_paths, tamper_findings
from patchloop.types import Task

F, P = ["t.py::f[a b]"], ["t.py::p"]


@pytest.mark.parametrize("statuses, exit_code, failures, timed_out, verdict, why", [
    ({"t.py::f[a b]": "PASSED", "t.py::p": "PASSED"}, 0, 0, False, "resolved", ""),
    ({"t.py::f[a b]": "SKIPPED", "t.py::p": "PASSED"}, 0, 0, False, "unresolved", "FAIL_TO_PASS not passing"),
    ({"t.py::f[a b]": "PASSED", "t.py::p": "FAILED"}, 1, 1, False, "unresolved", "PASS_TO_PASS broken"),
    ({"t.py::f[a b]": "FAILED", "t.py::p": "PASSED"}, 1, 1, False, "unresolved", "t.py::f[a b]: FAILED"),
    ({"t.py::p": "PASSED"}, 0, 0, False, "unresolved", "t.py::f[a b]: missing"),
    ({"t.py::f[a b]": "PASSED", "t.py::p": "PASSED"}, 0, 2, False, "unresolved", "report tampered with"),
    ({"t.py::f[a b]": "PASSED", "t.py::p": "PASSED"}, 1, 0, False, "unresolved", "pytest exited 1"),
    ({"t.py::f[a b]": "PASSED", "t.py::p": "PASSED"}, 137, 0, False, "unresolved", "pytest exited 137"),
    (None, 2, 0, False, "unresolved", "no usable JUnit report"),
    (None, -9, 0, True, "timeout", "time limit"),
])
def test_verdict_table(statuses, exit_code, failures, timed_out, verdict, why):
    got, reason = grade(F, P, statuses, exit_code=exit_code, report_failures=failures, timed_out=timed_out)
    assert got == verdict
    assert why in reason


def test_tamper_scan_flags_runner_hooks_outside_test_and_protected_files():
    patch = "\n".join([  # noqa: FLY002 -- one diff line per item reads better
        "+++ b/pkg/__init__.py", "+import _pytest.runner", "+x = 1",
        "+++ b/pyproject.toml", '+addopts = "-p pkg.hook"',
        "+++ b/pkg/hook.py", "+@pytest.hookimpl(hookwrapper=True)", "+def pytest_runtest_makereport(item): pass",
        "+++ b/tests/test_a.py", "+import _pytest",  # a test file: overwritten anyway
        "+++ b/tests/conftest.py", "+def pytest_configure(config): pass",  # protected: reset anyway
        "+++ b/pkg/util.py", "+os._exit(0)",
    ])
    found = tamper_findings(patch, {"tests/test_a.py"})
    assert found == ["pkg/__init__.py: _pytest", "pyproject.toml: addopts", "pkg/hook.py: hookimpl",
                     "pkg/hook.py: pytest_runtest_makereport", "pkg/util.py: os._exit"]


def test_test_files_cover_the_test_patch_and_every_listed_test():
    task = Task("x", test_patch="diff --git a/tests/test_new.py b/tests/test_new.py\n--- a/tests/test_new.py\n"
                                "+++ b/tests/test_new.py\n@@ -1 +1 @@\n-a\n+b\n",
                FAIL_TO_PASS=["tests/test_new.py::t[x::y]"], PASS_TO_PASS=["tests/other.py::C::t", "weird id"])
    assert graded_test_files(task) == ["tests/other.py", "tests/test_new.py"]


def test_patch_paths_prefers_git_headers_over_hunk_lines():
    diff = ("diff --git a/src/a.py b/src/b.py\nrename from src/a.py\nrename to src/b.py\n--- a/src/a.py\n"
            "+++ b/src/b.py\n@@ -1,2 +1,2 @@\n--- looks like a header\n+x\n")
    assert patch_paths(diff) == ["src/a.py", "src/b.py"]
    assert patch_paths("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n") == ["x.py"]


@pytest.mark.parametrize("tests, paths, support", [
    (["tests/test_a.py::t"], ["tests/helpers.py", "tests/data/x.json", "pkg/a.py", "testsuite.py"],
     ["tests/data/x.json", "tests/helpers.py"]),
    (["pkg/tests/test_a.py::t"], ["pkg/tests/__init__.py", "pkg/a.py", "tests/other.py"], ["pkg/tests/__init__.py"]),
    (["test_six.py::t"], ["six.py", "test_helpers.py"], []),  # tests at the root: the code is not "support"
    (["src/pkg/test_a.py::t"], ["src/pkg/a.py"], []),  # tests beside the code, no test directory
])
def test_files_beside_the_graded_tests_in_their_test_directory_are_support(tests, paths, support):
    from patchloop.evals.grading import test_support_files

    task = Task(instance_id="x", repo="r", FAIL_TO_PASS=tests, PASS_TO_PASS=[])
    assert test_support_files(task, paths) == support
