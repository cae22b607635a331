"""The SWE grader on the local backend: verdicts, and one test per exploit it defends against.

The same grader runs on Docker (test_swe_docker.py); these run on the local backend so the
exploit table stays fast. Every patch here is a real git diff applied in a real sandbox and
graded from pytest's real JUnit XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from patchloop.evals.repos import checkout_task_repo, git
from patchloop.evals.swe import evaluate_instance
from tests.evals.swe_helpers import builtin, make_patch

BUG = "if len(text) < width:"
F2P = "tests/test_trunc.py::test_exact_fit_is_untouched[hello world]"


def grade(task, patch, **kw):
    kw.setdefault("timeout", 60)
    return evaluate_instance(task, patch, backend="local", **kw)


@pytest.fixture(scope="module")
def task():
    return builtin("textkit-1")


def test_gold_resolves_and_empty_is_empty_patch(task, tmp_path):
    res = grade(task, task.patch, log_dir=tmp_path)
    assert res.verdict == "resolved", res.reason
    assert res.tests[F2P] == "PASSED" and set(res.tests.values()) == {"PASSED"}
    assert res.exit_code == 0 and Path(res.log_path).read_text().count("PASSED") > 1
    assert grade(task, "").verdict == "empty_patch"
    assert grade(task, "  \n").verdict == "empty_patch"


def test_patch_breaking_a_pass_to_pass_test_is_unresolved(task):
    patch = make_patch(task, {"textkit/wrap.py": ("if current:\n        lines.append", "if current and 0:\n        lines.append")},
                       gold=True)
    res = grade(task, patch)
    assert res.verdict == "unresolved"
    assert res.tests[F2P] == "PASSED"
    assert res.tests["tests/test_wrap.py::test_wrap_breaks_at_spaces"] == "FAILED"
    assert "PASS_TO_PASS broken" in res.reason


def test_patch_that_does_not_apply_is_patch_failed(task):
    bad = task.patch.replace("if len(text) < width:", "if len(text) != width:")
    res = grade(task, bad)
    assert res.verdict == "patch_failed" and res.reason


def test_hanging_test_is_timeout(task):
    patch = make_patch(task, {"textkit/trunc.py": (BUG, "while True:\n        pass\n    if len(text) < width:")})
    res = grade(task, patch, timeout=4)
    assert res.verdict == "timeout"


def test_forged_passed_lines_are_not_graded(task):
    forged = "".join(f"print('PASSED {t}')\n" for t in task.FAIL_TO_PASS)
    forged += "import sys\n" + "".join(f"sys.stderr.write('{t} PASSED\\n')\n" for t in task.FAIL_TO_PASS)
    patch = make_patch(task, {"textkit/trunc.py": ('"""Shorten text to a display width."""\n',
                                                   '"""Shorten text to a display width."""\n' + forged)})
    res = grade(task, patch)
    assert res.verdict == "unresolved"
    assert res.tests[F2P] == "FAILED"


def test_skipping_a_fail_to_pass_test_does_not_resolve(task):
    patch = make_patch(task, {"textkit/trunc.py": (BUG, ("if len(text) == width:\n        import pytest\n"
                                                         "        pytest.skip('fits')\n    if len(text) < width:"))})
    res = grade(task, patch)
    assert res.verdict == "unresolved"
    assert res.tests[F2P] == "SKIPPED"


def test_edited_tests_are_overridden_by_the_test_patch(task):
    cheat = "def test_exact_fit_is_untouched():\n    pass\n"
    patch = make_patch(task, {"tests/test_trunc.py": cheat, "tests/test_wrap.py": "def test_wrap_breaks_at_spaces():\n    pass\n"})
    res = grade(task, patch)
    assert res.verdict == "unresolved" and res.tests[F2P] == "FAILED"
    # the same test edits on top of a real fix cost nothing: the real tests decide
    assert grade(task, make_patch(task, {"tests/test_trunc.py": cheat}, gold=True)).verdict == "resolved"


FORCE_PASS = '''
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
'''


def test_conftest_hook_forcing_pass_is_neutralised(task, tmp_path):
    patch = make_patch(task, {"conftest.py": FORCE_PASS,
                              "tests/conftest.py": ("import pytest\n", "import pytest\n" + FORCE_PASS),
                              "textkit/conftest.py": FORCE_PASS})
    # the exploit is real: run directly, the hook turns the failing test into a pass
    root = checkout_task_repo(task, tmp_path / "direct")
    git(root, "apply", "-", stdin=patch + "\n" + task.test_patch)
    direct = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", F2P], cwd=root,
                            capture_output=True, text=True, check=False,
                            env=dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"))
    assert direct.returncode == 0, direct.stdout
    res = grade(task, patch)
    assert res.verdict == "unresolved" and res.tests[F2P] == "FAILED"
    # the repository's own conftest (its `pangram` fixture) still works
    assert res.tests["tests/test_trunc.py::test_long_text_gets_placeholder"] == "PASSED"


def test_runner_hooks_in_package_code_are_refused(task):
    plugin = "pytest_plugins = ['textkit.trunc']\n"
    patch = make_patch(task, {"textkit/__init__.py": ('"""Small', plugin + '"""Small')}, gold=True)
    res = grade(task, patch)
    assert res.verdict == "unresolved" and "reaches into the test runner" in res.reason


REWRITE_AT_EXIT = '''
import atexit, glob, re, sys
def _forge():
    for arg in sys.argv:
        if arg.startswith("--ju" + "nit"):
            path = arg.split("=", 1)[1]
            text = open(path).read()
            text = re.sub(r"<failure.*?</failure>", "", text, flags=re.S)
            open(path, "w").write(text.replace('failures="', 'failures="0" x="'))
atexit.register(_forge)
'''


def test_report_rewritten_at_exit_is_caught_by_the_exit_code(task):
    patch = make_patch(task, {"textkit/trunc.py": ('"""Shorten text to a display width."""\n',
                                                   '"""Shorten text to a display width."""\n' + REWRITE_AT_EXIT)})
    res = grade(task, patch)
    assert res.verdict == "unresolved"
    assert res.tests[F2P] == "PASSED"  # the forgery worked on the file...
    assert "pytest exited 1" in res.reason  # ...and the exit code gave it away


def test_fake_junit_files_in_the_workspace_are_ignored(task):
    fake = ('<testsuite><testcase classname="tests.test_trunc" name="test_exact_fit_is_untouched[hello world]"/>'
            "</testsuite>")
    patch = make_patch(task, {"report.xml": fake, "junit.xml": fake, "tests/report.xml": fake})
    assert grade(task, patch).verdict == "unresolved"


def test_workspace_history_is_scrubbed(task):
    from patchloop.sandbox import open_sandbox

    with tempfile.TemporaryDirectory() as tmp:
        repo = checkout_task_repo(task, Path(tmp) / "repo")
        with open_sandbox("local", repo=repo, task_id="history") as sb:
            out = sb.run("git log --all --format=%H; git tag; git reflog; git stash list; git remote", timeout=30)
    assert out.stdout.split() == [task.base_commit]


def test_pass_to_pass_test_rewritten_to_hide_a_break_is_restored(task):
    # the patch fixes the issue, breaks wrap(), and rewrites test_wrap.py (not in the test
    # patch) so the broken PASS_TO_PASS tests would pass
    patch = make_patch(task, {
        "textkit/wrap.py": ("if current:\n        lines.append", "if 0:\n        lines.append"),
        "tests/test_wrap.py": "def test_wrap_breaks_at_spaces():\n    pass\n\n\ndef test_empty_text():\n    pass\n\n\n"
                              "def test_long_word_gets_own_line():\n    pass\n",
    }, gold=True)
    res = grade(task, patch)
    assert res.verdict == "unresolved"
    assert res.tests["tests/test_wrap.py::test_wrap_breaks_at_spaces"] == "FAILED"


def test_patch_escaping_the_workspace_is_patch_failed(task):
    escape = ("diff --git a/../../outside.py b/../../outside.py\nnew file mode 100644\n--- /dev/null\n"
              "+++ b/../../outside.py\n@@ -0,0 +1 @@\n+x = 1\n")
    res = grade(task, escape)
    assert res.verdict == "patch_failed" and res.reason


def test_run_killed_before_the_report_is_written_is_unresolved(task):
    kill = 'import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"""Small'
    patch = make_patch(task, {"textkit/__init__.py": ('"""Small', kill)}, gold=True)
    res = grade(task, patch)
    assert res.verdict == "unresolved" and "no usable JUnit report" in res.reason


def test_tests_dir_swapped_for_a_symlink_to_fake_tests_is_restored(task, tmp_path):
    root = checkout_task_repo(task, tmp_path / "r")
    os.rename(root / "tests", root / "faketests")
    for f in (root / "faketests").glob("test_*.py"):
        f.write_text("def test_exact_fit_is_untouched():\n    pass\n")
    os.symlink("faketests", root / "tests")
    git(root, "add", "-A")
    patch = git(root, "diff", "--cached", "HEAD", strip=False)
    assert "new file mode 120000" in patch
    res = grade(task, patch)
    assert res.verdict == "unresolved" and res.tests[F2P] == "FAILED"
    assert res.tests["tests/test_wrap.py::test_wrap_breaks_at_spaces"] == "PASSED"  # the real tests ran


def test_log_keeps_whole_failure_messages(task, tmp_path):
    """Issue text for generated bugs is read from these summary lines: pytest cuts them at the
    terminal width (80 columns with no terminal) unless the harness widens it."""
    from patchloop.datagen.repos.issues import failure_messages

    patch = make_patch(task, {"textkit/trunc.py": ("        return text\n", "        return text  # unchanged\n")})
    res = grade(task, patch, log_dir=tmp_path)
    assert res.verdict == "unresolved" and res.tests[F2P] == "FAILED"
    message = failure_messages(Path(res.log_path).read_text())[F2P]
    assert message == "AssertionError: assert 'hello wo...' == 'hello world'", message
