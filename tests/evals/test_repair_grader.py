"""The single-turn repair grader on the built-in instances: the gold function resolves, the
buggy one returned unchanged does not, and every fault of a reply is reward 0 with its reason."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchloop.evals import extract, grading
from patchloop.evals import repair as rp
from patchloop.evals.repos import checkout_task_repo, git
from tests.evals.swe_helpers import builtin


def function_source(task, path: str, qualname: str, *, gold: bool) -> str:
    """The source of ``qualname`` at the base, or after the gold patch, as a reply writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        root = checkout_task_repo(task, Path(tmp) / "repo")
        if gold:
            git(root, "apply", "-", stdin=task.patch)
        source = (root / path).read_text()
    d = next(d for d in rp.python_definitions(path, source) if d.qualname == qualname)
    import textwrap

    return textwrap.dedent("".join(source.splitlines(keepends=True)[d.start - 1:d.end]))


def reply(code: str, prose: str = "Here is the fix:") -> str:
    return f"{prose}\n\n```python\n{code}```\n\nThis handles the edge case."


GOLD = [("textkit-1", "textkit/trunc.py", "truncate"),
        ("intervals-2", "intervals/core.py", "gaps"),
        ("vertools-1", "vertools/version.py", "Version.__lt__")]  # a method, written without its class


@pytest.mark.parametrize(("iid", "path", "qualname"), GOLD)
def test_the_gold_function_resolves_and_the_buggy_one_does_not(iid, path, qualname):
    task = builtin(iid)
    gold = rp.grade_repair(task, reply(function_source(task, path, qualname, gold=True)), backend="local")
    assert gold.verdict == grading.RESOLVED, gold.reason
    assert gold.reward == 1.0 and gold.target == f"{path}::{qualname}"
    assert gold.patch.startswith(f"diff --git a/{path} b/{path}") and all(s == "PASSED" for s in gold.tests.values())
    buggy = rp.grade_repair(task, reply(function_source(task, path, qualname, gold=False)), backend="local")
    assert (buggy.verdict, buggy.reward, buggy.patch) == (rp.UNCHANGED, 0.0, "")
    assert qualname.rsplit(".", 1)[-1] in buggy.reason


def test_a_method_written_inside_its_class_replaces_that_method():
    task = builtin("vertools-1")
    method = function_source(task, "vertools/version.py", "Version.__lt__", gold=True)
    wrapped = "class Version:\n" + "".join("    " + line if line.strip() else line
                                            for line in method.splitlines(keepends=True))
    result = rp.grade_repair(task, reply(wrapped), backend="local")
    assert result.verdict == grading.RESOLVED and result.target == "vertools/version.py::Version.__lt__"


def test_a_wrong_edit_is_graded_unresolved_by_the_harness():
    task = builtin("textkit-1")
    wrong = "def truncate(text, width, placeholder='...'):\n    return text\n"
    result = rp.grade_repair(task, reply(wrong), backend="local")
    assert result.verdict == grading.UNRESOLVED and result.reward == 0.0
    assert result.patch and any(s != "PASSED" for s in result.tests.values())


TRUNCATE_NONLOCAL = "def truncate(text, width, placeholder='...'):\n    nonlocal width\n    return text\n"
FAULTS = [
    ("", extract.EMPTY),
    ("  \n\t", extract.EMPTY),
    (None, extract.EMPTY),  # not text at all
    ("The bug is in truncate: use <= instead of <.", extract.NO_CODE),
    ("```js\nfunction truncate() {}\n```", extract.NO_CODE),
    ("```python\ndef truncate(text, width, placeholder='...'):\n    if len(text) <= wid", extract.TRUNCATED),
    (reply("def truncate(text, width:\n    return text\n"), extract.SYNTAX),
    (reply("WIDTH = 3\nprint(WIDTH)\n"), extract.NO_FUNCTION),
    (reply("def shorten(text, width):\n    return text[:width]\n"), rp.UNKNOWN),
    (reply("def test_short_text_is_untouched():\n    assert True\n"), rp.TEST_FILE),
    (reply(TRUNCATE_NONLOCAL), rp.UNPARSABLE_EDIT),
]


@pytest.mark.parametrize(("completion", "fault"), FAULTS)
def test_each_fault_scores_zero_with_its_reason(completion, fault):
    result = rp.grade_repair(builtin("textkit-1"), completion, backend="local")
    assert (result.verdict, result.reward, result.patch) == (fault, 0.0, "")
    assert result.reason


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("`pythondef():\n =a1\t")), max_size=80) | st.text(max_size=80))
def test_any_text_is_a_definition_or_a_fault_never_an_exception(text):
    got = extract.function_reply(text)
    assert bool(got.code) != bool(got.fault) and (got.name or got.fault)


def test_editing_a_test_so_it_passes_earns_nothing():
    """The exploit: rewrite the failing test rather than the code. The test exists only in a
    test file, so nothing is replaced and nothing is graded."""
    result = rp.grade_repair(builtin("textkit-1"), reply(
        "def test_short_text_is_untouched():\n    assert True\n"), backend="local")
    assert result.verdict == rp.TEST_FILE and "test" in result.reason and result.reward == 0.0


def test_a_reply_that_hit_the_token_limit_scores_zero_even_when_its_code_is_right():
    task = builtin("textkit-1")
    gold = reply(function_source(task, "textkit/trunc.py", "truncate", gold=True))
    result = rp.grade_repair(task, gold, truncated=True, backend="local")
    assert (result.verdict, result.reward) == (extract.TRUNCATED, 0.0)


def test_tests_that_hang_are_a_timeout_and_score_zero():
    hang = "def truncate(text, width, placeholder='...'):\n    while True:\n        pass\n"
    result = rp.grade_repair(builtin("textkit-1"), reply(hang), backend="local", timeout=4)
    assert (result.verdict, result.reward) == (grading.TIMEOUT, 0.0)


def test_an_instance_whose_repository_is_gone_is_an_error_not_a_zero():
    task = builtin("textkit-1")
    task.extra["repo_path"] = "/nonexistent/textkit"
    result = rp.grade_repair(task, reply("def truncate(text, width):\n    return text\n"), backend="local")
    assert result.verdict == grading.ERROR_VERDICT and result.reward is None and "repo_path" in result.reason


DEFS = [rp.Definition("pkg/a.py", "Cache.get", 3, 5, 3, 4), rp.Definition("pkg/b.py", "Store.get", 9, 12, 9, 4),
        rp.Definition("pkg/b.py", "helper", 1, 2, 1, 0), rp.Definition("tests/test_b.py", "helper", 1, 2, 1, 0)]


@pytest.mark.parametrize(("name", "targets", "expected"), [
    ("get", ["pkg/b.py::Store"], "pkg/b.py::Store.get"),  # the class the prompt showed decides
    ("get", ["pkg/a.py::Cache.get"], "pkg/a.py::Cache.get"),
    ("Cache.get", [], "pkg/a.py::Cache.get"),  # a qualified name decides alone
    ("helper", [], "pkg/b.py::helper"),  # code before tests
])
def test_the_target_is_the_definition_the_prompt_showed_or_the_name_qualifies(name, targets, expected):
    found, fault, _ = rp.find_target(DEFS, name, targets)
    assert fault == "" and found.target == expected


def test_an_ambiguous_name_is_a_fault_that_says_how_to_qualify_it():
    found, fault, reason = rp.find_target(DEFS, "get", [])
    assert found is None and fault == rp.AMBIGUOUS and "Cache.get" in reason and "Store.get" in reason


def test_the_replacement_keeps_the_method_indentation_and_the_rest_of_the_file():
    source = "class A:\n    @property\n    def x(self):\n        return 1\n\n    def y(self):\n        return 2\n"
    d = next(d for d in rp.python_definitions("m.py", source) if d.qualname == "A.x")
    assert (d.start, d.end, d.indent) == (2, 4, 4)
    out = rp.replace_definition(source, d, "def x(self):\n    return 3\n")
    assert out == "class A:\n    def x(self):\n        return 3\n\n    def y(self):\n        return 2\n"


@pytest.mark.docker
def test_the_gold_function_resolves_on_docker(docker_client):
    task = builtin("textkit-1")
    gold = rp.grade_repair(task, reply(function_source(task, "textkit/trunc.py", "truncate", gold=True)),
                           backend="docker")
    assert (gold.verdict, gold.reward) == (grading.RESOLVED, 1.0), gold.reason


NESTED = '''def cached(func):
    def wrapper(*args):
        return func(*args) + 0
    return wrapper


def other(func):
    def wrapper(*args):
        return func(*args)
    return wrapper
'''


def test_a_function_inside_a_function_is_a_target_only_where_the_prompt_showed_it():
    defs = rp.python_definitions("lib.py", NESTED)
    assert [(d.qualname, d.nested) for d in defs] == [("cached", False), ("cached.wrapper", True),
                                                       ("other", False), ("other.wrapper", True)]
    shown, fault, _ = rp.find_target(defs, "wrapper", targets=["lib.py::cached.wrapper"])
    assert (shown.qualname, fault) == ("cached.wrapper", "")
    assert rp.find_target(defs, "wrapper", targets=["lib.py::other"])[0].qualname == "other.wrapper"
    assert rp.find_target(defs, "wrapper")[1] == rp.UNKNOWN  # not shown: as before, not a target
    fixed = rp.replace_definition(NESTED, shown, "def wrapper(*args):\n    return func(*args)\n")
    assert "    def wrapper(*args):\n        return func(*args)\n    return wrapper" in fixed.split("def other")[0]
