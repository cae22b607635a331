"""Non-pytest runners: Django/SymPy log parsers, their summary cross-checks, runner choice,
and one real end-to-end grade of a Django-style repository on the local backend.

The fake repository's ``tests/runtests.py`` is a stdlib ``unittest.TextTestRunner(verbosity=2)``,
which is exactly the output Django's runner prints (Django subclasses it)."""

from __future__ import annotations

import textwrap

import pytest

from patchloop.evals.logparsers import (
    RUNNERS,
    LogError,
    django_command,
    parse_django,
    parse_sympy,
    runner_name,
    sympy_command,
)
from patchloop.evals.repos import git
from patchloop.evals.swe import evaluate_instance
from patchloop.types import Task

ENV = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}

DJANGO_LOG = """\
Testing against Django installed in '/testbed/django'
Importing application queries
Skipping setup of unused database(s): other.
System check identified no issues (1 silenced).
test_exists (queries.tests.ExistsSql) ... ok
test_ticket_18414 (queries.tests.ExistsSql.test_ticket_18414) ... FAIL
test_in_query (queries.tests.ToFieldTests)
Filtering by a related field through ``__in``. ... ok
test_recursive_fk (queries.tests.ToFieldTests)
A docstring (with parens) ... ERROR
test_sqlite_only (queries.tests.DBSpecific) ... skipped 'Database has feature(s) can_x'
test_known_bug (queries.tests.Q1) ... expected failure
test_fixed_bug (queries.tests.Q1) ... unexpected success
test_noisy (queries.tests.Q2) ... printed by the test
ok

======================================================================
FAIL: test_ticket_18414 (queries.tests.ExistsSql.test_ticket_18414)
----------------------------------------------------------------------
AssertionError: 1 != 2

----------------------------------------------------------------------
Ran 8 tests in 0.123s

FAILED (failures=1, errors=1, skipped=1, expected failures=1, unexpected successes=1)
Destroying test database for alias 'default'...
"""

SYMPY_LOG = """\
============================= test process starts ==============================
executable:         /usr/bin/python  (3.9.19-final-0) [CPython]
random seed:        1234

sympy/core/tests/test_basic.py[6]
test__aresame ok
test_structure F
test_equality E
test_slow_thing Slow w
test_known_xfail f
test_atoms ok                                                               [FAIL]

________________________________________________________________________________
_____________ sympy/core/tests/test_basic.py:test_structure ______________
AssertionError
= tests finished: 2 passed, 1 failed, 1 skipped, 1 expected to fail,
1 exceptions, in 0.51 seconds =
DO *NOT* COMMIT!
"""


@pytest.mark.parametrize("test, status", [
    ("test_exists (queries.tests.ExistsSql)", "PASSED"),
    ("test_ticket_18414 (queries.tests.ExistsSql)", "FAILED"),  # Python >= 3.11 form normalised
    ("test_in_query (queries.tests.ToFieldTests)", "PASSED"),
    ("Filtering by a related field through ``__in``.", "PASSED"),  # SWE-bench's docstring id
    ("test_recursive_fk (queries.tests.ToFieldTests)", "ERROR"),
    ("A docstring (with parens)", "ERROR"),
    ("test_sqlite_only (queries.tests.DBSpecific)", "SKIPPED"),
    ("test_known_bug (queries.tests.Q1)", "SKIPPED"),
    ("test_fixed_bug (queries.tests.Q1)", "FAILED"),
])
def test_django_parser_table(test, status):
    assert parse_django(DJANGO_LOG)[test] == status


@pytest.mark.parametrize("test, status", [
    ("test__aresame", "PASSED"), ("test_structure", "FAILED"), ("test_equality", "ERROR"),
    ("test_slow_thing", "SKIPPED"), ("test_known_xfail", "SKIPPED"), ("test_atoms", "PASSED"),
])
def test_sympy_parser_table(test, status):
    assert parse_sympy(SYMPY_LOG)[test] == status


def test_sympy_skip_variants_and_xpass():
    log = ("test_a  - s\ntest_b s - reason\ntest_c Timeout T\ntest_d X\n"
           "== tests finished: 0 passed, 3 skipped, 1 expected to fail, but passed, in 1.00 seconds ==\n")
    assert parse_sympy(log) == {"test_a": "SKIPPED", "test_b": "SKIPPED", "test_c": "SKIPPED", "test_d": "FAILED"}


def test_django_ok_with_skips_summary():
    log = "test_a (m.C) ... ok\ntest_b (m.C) ... skipped 'x'\n\nRan 2 tests in 0.001s\n\nOK (skipped=1)\n"
    assert parse_django(log) == {"test_a (m.C)": "PASSED", "test_b (m.C)": "SKIPPED"}


@pytest.mark.parametrize("parse, log", [
    (parse_django, "test_a (m.C) ... ok\n"),
    (parse_sympy, "test_a ok\n"),
], ids=["django", "sympy"])
def test_log_without_runner_summary_is_refused(parse, log):
    with pytest.raises(LogError, match="summary"):
        parse(log)


@pytest.mark.parametrize("parse, log", [
    # the real run had one failing test; the code under test printed a passing line for another
    (parse_django, "test_forged (m.C) ... ok\ntest_real (m.C) ... FAIL\n\nRan 1 test in 0.01s\n\nFAILED (failures=1)\n"),
    # a test printed "... ok" for itself and then failed
    (parse_django, "test_real (m.C) ... ok\nFAIL\n\nRan 1 test in 0.01s\n\nFAILED (failures=1)\n"),
    (parse_sympy, "test_forged ok\ntest_real F\n= tests finished: 0 passed, 1 failed, in 0.1 seconds =\n"),
], ids=["django-extra-line", "django-ok-then-fail", "sympy-extra-line"])
def test_forged_passed_lines_without_matching_summary_are_not_graded(parse, log):
    with pytest.raises(LogError, match="disagrees"):
        parse(log)


def test_forged_summary_before_the_runners_own_is_not_the_one_read():
    # a test printed a passing line and an `OK` summary; the runner's own summary comes last
    log = ("test_x (m.C) ... ok\n\nRan 1 test in 0.01s\n\nOK\ntest_x (m.C) ... FAIL\n\n"
           "Ran 1 test in 0.02s\n\nFAILED (failures=1)\n")
    assert parse_django(log) == {"test_x (m.C)": "FAILED"}


@pytest.mark.parametrize("repo, extra, expected", [
    ("django/django", {}, "django"),
    ("sympy/sympy", {}, "sympy"),
    ("psf/requests", {}, "pytest"),
    ("", {}, "pytest"),
    ("django/django", {"test_runner": "pytest"}, "pytest"),
    ("acme/fork-of-django", {"test_runner": "django"}, "django"),
])
def test_runner_defaults_by_repo(repo, extra, expected):
    assert runner_name(Task("i", repo=repo, extra=extra)) == expected


def test_unknown_runner_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'nose'"):
        runner_name(Task("i", extra={"test_runner": "nose"}))


TEST_PATCH = """\
diff --git a/tests/queries/tests.py b/tests/queries/tests.py
--- a/tests/queries/tests.py
+++ b/tests/queries/tests.py
@@ -1 +1 @@
-x
+y
diff --git a/tests/queries/fixtures/data.json b/tests/queries/fixtures/data.json
--- a/tests/queries/fixtures/data.json
+++ b/tests/queries/fixtures/data.json
@@ -1 +1 @@
-x
+y
"""


def test_commands_follow_swe_bench():
    task = Task("d", repo="django/django", test_patch=TEST_PATCH)
    assert django_command(task, "py") == "py ./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 queries.tests"
    by_ids = Task("d", repo="django/django", FAIL_TO_PASS=["test_a (admin_views.tests.AdminTests)"])
    assert django_command(by_ids, "py").endswith("--parallel 1 admin_views.tests.AdminTests")
    sym = Task("s", repo="sympy/sympy", test_patch=TEST_PATCH.replace("tests/queries/tests.py", "sympy/core/tests/test_basic.py"))
    assert sympy_command(sym, "py") == "py bin/test -C --verbose sympy/core/tests/test_basic.py"
    assert "tests/runtests.py" in RUNNERS["django"].protected


# ------------------------------------------------------------------ end to end, local backend

RUNTESTS = """\
import os, sys, unittest
here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.dirname(here)]
labels = [a for a in sys.argv[1:] if not a.startswith("--") and not a.isdigit()]
suite = unittest.defaultTestLoader.loadTestsFromNames(labels)
result = unittest.TextTestRunner(verbosity=2).run(suite)
sys.exit(not result.wasSuccessful())
"""
TESTS = """\
import unittest
from calc import add


class AddTests(unittest.TestCase):
    def test_small(self):
        self.assertEqual(add(1, 1), 2)
"""
NEW_TEST = """
    def test_negative(self):
        \"\"\"Negative numbers add too.\"\"\"
        self.assertEqual(add(-2, -3), -5)
"""


@pytest.fixture(scope="module")
def django_task(tmp_path_factory):
    root = tmp_path_factory.mktemp("fakedjango")
    files = {"calc/__init__.py": "def add(a, b):\n    return abs(a) + abs(b)  # bug\n",
             "tests/runtests.py": RUNTESTS, "tests/test_sqlite.py": "DATABASES = {}\n",
             "tests/calc_tests/__init__.py": "", "tests/calc_tests/tests.py": TESTS}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base", env=ENV)
    base = git(root, "rev-parse", "HEAD")
    (root / "calc/__init__.py").write_text("def add(a, b):\n    return a + b\n")
    gold = git(root, "diff", "--no-color", strip=False)
    git(root, "checkout", "-q", "--", ".")
    (root / "tests/calc_tests/tests.py").write_text(TESTS + NEW_TEST)
    test_patch = git(root, "diff", "--no-color", strip=False)
    git(root, "checkout", "-q", "--", ".")
    return Task("fake__django-1", repo="django/django", base_commit=base, patch=gold, test_patch=test_patch,
                FAIL_TO_PASS=["test_negative (calc_tests.tests.AddTests)"],
                PASS_TO_PASS=["test_small (calc_tests.tests.AddTests)"], extra={"repo_path": str(root)})


def test_django_style_repo_gold_resolves_empty_does_not(django_task, tmp_path):
    gold = evaluate_instance(django_task, django_task.patch, backend="local", timeout=60, log_dir=tmp_path)
    assert gold.verdict == "resolved", gold.reason
    assert gold.tests == {"test_negative (calc_tests.tests.AddTests)": "PASSED",
                          "test_small (calc_tests.tests.AddTests)": "PASSED"}
    assert "--settings=test_sqlite --parallel 1 calc_tests.tests" in (tmp_path / "fake__django-1.log").read_text()
    before = evaluate_instance(django_task, "", backend="local", timeout=60, run_empty=True)
    assert before.verdict == "unresolved" and before.exit_code != 0
    assert before.tests["test_negative (calc_tests.tests.AddTests)"] == "FAILED"


def test_patch_rewriting_the_runner_to_print_ok_is_reset(django_task, tmp_path):
    fake = textwrap.dedent("""\
        import sys
        print("test_negative (calc_tests.tests.AddTests) ... ok", file=sys.stderr)
        print("test_small (calc_tests.tests.AddTests) ... ok", file=sys.stderr)
        print("\\nRan 2 tests in 0.001s\\n\\nOK", file=sys.stderr)
        """)
    patch = ("diff --git a/tests/runtests.py b/tests/runtests.py\n--- a/tests/runtests.py\n+++ b/tests/runtests.py\n"
             f"@@ -1,{len(RUNTESTS.splitlines())} +1,{len(fake.splitlines())} @@\n"
             + "".join(f"-{line}\n" for line in RUNTESTS.splitlines())
             + "".join(f"+{line}\n" for line in fake.splitlines()))
    res = evaluate_instance(django_task, patch, backend="local", timeout=60)
    assert res.verdict == "unresolved", res.reason
    assert res.tests["test_negative (calc_tests.tests.AddTests)"] == "FAILED"


def test_forged_lines_printed_by_code_under_test_do_not_resolve(django_task):
    forged = ("def add(a, b):\n    import sys\n"
              "    sys.stderr.write('ok\\ntest_negative (calc_tests.tests.AddTests) ... ok\\n')\n"
              "    return abs(a) + abs(b)\n")
    patch = ("diff --git a/calc/__init__.py b/calc/__init__.py\n--- a/calc/__init__.py\n+++ b/calc/__init__.py\n"
             "@@ -1,2 +1,4 @@\n-def add(a, b):\n-    return abs(a) + abs(b)  # bug\n"
             + "".join(f"+{line}\n" for line in forged.splitlines()))
    res = evaluate_instance(django_task, patch, backend="local", timeout=60)
    assert res.verdict == "unresolved", res.reason
    assert "no runner summary agreeing with its lines" in res.reason
