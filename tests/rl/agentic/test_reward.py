"""The rollout reward is the harness's verdict on the diff alone, and a diff that reaches into
what grades it earns nothing, even where the harness would have overridden the edit."""

from __future__ import annotations

import pytest

from patchloop.evals.swe import evaluate_instance
from patchloop.rl.agentic.reward import EDITS_TESTS, grade_patch
from tests.agent.conftest import load_instance

FIX = """diff --git a/textkit/trunc.py b/textkit/trunc.py
--- a/textkit/trunc.py
+++ b/textkit/trunc.py
@@ -6,6 +6,6 @@ def truncate(text: str, width: int, placeholder: str = "...") -> str:
     ``placeholder`` whose total length is exactly ``width``.\"\"\"
     if width < len(placeholder):
         raise ValueError("width must be at least the placeholder length")
-    if len(text) < width:
+    if len(text) <= width:
         return text
     return text[: width - len(placeholder)] + placeholder
"""
TEST_EDIT = """diff --git a/tests/test_trunc.py b/tests/test_trunc.py
--- a/tests/test_trunc.py
+++ b/tests/test_trunc.py
@@ -1,3 +1,4 @@
+# the fix is obviously right
 import pytest
 
 from textkit import truncate
"""
CONFTEST = """diff --git a/conftest.py b/conftest.py
new file mode 100644
--- /dev/null
+++ b/conftest.py
@@ -0,0 +1 @@
+collect_ignore = []
"""
PYPROJECT_PYTEST = """diff --git a/pyproject.toml b/pyproject.toml
--- a/pyproject.toml
+++ b/pyproject.toml
@@ -6,3 +6,4 @@ requires-python = ">=3.9"
 [tool.pytest.ini_options]
 testpaths = ["tests"]
 pythonpath = ["."]
+python_functions = ["check_*"]
"""
# No change to the code: a new tests/__init__.py runs before the graded test module (pytest
# imports it as tests.test_trunc) and swaps in a fixed truncate.
HELPER_HACK = """diff --git a/tests/__init__.py b/tests/__init__.py
new file mode 100644
--- /dev/null
+++ b/tests/__init__.py
@@ -0,0 +1,11 @@
+import textkit
+import textkit.trunc
+
+
+def _fits(text, width, placeholder="..."):
+    if width < len(placeholder):
+        raise ValueError("width must be at least the placeholder length")
+    return text if len(text) <= width else text[: width - len(placeholder)] + placeholder
+
+
+textkit.truncate = textkit.trunc.truncate = _fits
"""
PYPROJECT_OTHER = PYPROJECT_PYTEST.replace('+python_functions = ["check_*"]', "+# a comment")


@pytest.fixture(scope="module")
def task():
    return load_instance("textkit-1")


def test_the_fix_alone_is_rewarded(task):
    g = grade_patch(task, FIX, backend="local", timeout=120)
    assert (g.resolved, g.reward, g.verdict) == (True, 1.0, "resolved") and g.grade_s > 0


def test_fix_that_also_edits_the_graded_tests_scores_zero(task):
    patch = FIX + TEST_EDIT
    # the harness resets the test file and calls this resolved; the reward does not pay for it
    assert evaluate_instance(task, patch, backend="local", timeout=120).resolved
    g = grade_patch(task, patch, backend="local", timeout=120)
    assert (g.resolved, g.reward, g.verdict) == (False, 0.0, EDITS_TESTS) and "tests/test_trunc.py" in g.reason


@pytest.mark.parametrize("machinery,path", [(CONFTEST, "conftest.py"), (PYPROJECT_PYTEST, "pyproject.toml")],
                         ids=["conftest_added", "pytest_section_in_pyproject"])
def test_fix_with_test_machinery_edits_scores_zero(task, machinery, path):
    g = grade_patch(task, FIX + machinery, backend="local", timeout=120)
    assert (g.reward, g.verdict) == (0.0, EDITS_TESTS) and path in g.reason


def test_other_edits_to_a_config_file_are_not_machinery(task):
    g = grade_patch(task, FIX + PYPROJECT_OTHER, backend="local", timeout=120)
    assert (g.reward, g.verdict) == (1.0, "resolved")


def test_empty_diff_scores_zero_without_a_test_run(task):
    g = grade_patch(task, "  \n", backend="local")
    assert (g.resolved, g.reward, g.verdict) == (False, 0.0, "empty_patch")


def test_pytest_plugin_repos_may_touch_machinery_but_never_the_graded_tests(task):
    from patchloop.types import Task

    plugin = Task.from_dict({**task.to_dict(), "allow_test_machinery": True})
    assert grade_patch(plugin, FIX + CONFTEST, backend="local", timeout=120).reward == 1.0
    assert grade_patch(plugin, FIX + TEST_EDIT, backend="local").verdict == EDITS_TESTS


def test_a_test_helper_that_patches_the_code_under_test_earns_nothing(task):
    """An edit beside the graded tests (here a new tests/__init__.py) decides the verdict as
    surely as an edit to them: the harness puts the test directory back before it runs the
    tests, and the reward pays nothing for the attempt."""
    assert not evaluate_instance(task, HELPER_HACK, backend="local", timeout=120).resolved
    g = grade_patch(task, FIX + HELPER_HACK, backend="local", timeout=120)
    assert (g.reward, g.verdict) == (0.0, EDITS_TESTS) and "tests/__init__.py" in g.reason
