"""A submit whose change breaks tests that pass without it is refused once, naming them."""

from __future__ import annotations

import pytest

from patchloop.agent.submit_review import failing_tests
from patchloop.agent.tools import SandboxTools, ToolError
from tests.agent.conftest import agent_config

BREAK = ('    if width < len(placeholder):\n        raise ValueError("width must be at least the placeholder length")\n',
         "")  # drops the guard: test_width_smaller_than_placeholder_is_rejected fails


def test_a_change_that_breaks_passing_tests_is_refused_once(textkit_sandbox):
    tools = SandboxTools(textkit_sandbox, agent_config())
    tools.edit(path="textkit/trunc.py", old=BREAK[0], new=BREAK[1])
    tools.create(path="notes.txt", content="an untracked file survives the review\n")
    with pytest.raises(ToolError) as refused:
        tools.submit()
    assert "tests/test_trunc.py::test_width_smaller_than_placeholder_is_rejected" in str(refused.value)
    assert "test_slug" not in str(refused.value)  # only what the change broke
    assert not tools.submitted
    # the review put the change back exactly as it was, and the second submit goes through
    assert "-    if width < len(placeholder):" in textkit_sandbox.diff()
    assert "+an untracked file survives the review" in textkit_sandbox.diff()
    assert textkit_sandbox.run("git stash list").stdout.strip() == ""
    assert tools.submit().startswith("submitted") and tools.submitted


def test_a_change_that_keeps_the_tests_passing_is_submitted_at_once(textkit_sandbox):
    tools = SandboxTools(textkit_sandbox, agent_config())
    tools.edit(path="textkit/trunc.py", old="    if len(text) < width:", new="    if len(text) <= width:")
    assert tools.submit().startswith("submitted") and tools.submitted


def test_tests_failing_without_the_change_never_block_a_submit(textkit_sandbox):
    # a failing test that the change does not touch: it fails with and without the change
    tools = SandboxTools(textkit_sandbox, agent_config(submit_test_reviews=1))
    textkit_sandbox.write_file("tests/test_broken.py", "def test_always_fails():\n    assert False\n")
    textkit_sandbox.run("git add -A && git -c user.name=t -c user.email=t@t commit -qm base-is-broken")
    tools.edit(path="textkit/trunc.py", old="    if len(text) < width:", new="    if len(text) <= width:")
    assert tools.submit().startswith("submitted")


def test_failing_tests_reads_pytest_short_summary():
    out = ("FAILED tests/test_a.py::test_x[a b] - assert 1 == 2\nERROR tests/test_b.py - SyntaxError\n"
           "tests/test_c.py::test_y PASSED\n1 failed, 1 error in 0.1s")
    assert failing_tests(out) == {"tests/test_a.py::test_x[a b]", "tests/test_b.py"}


def test_the_review_never_pops_a_stash_it_did_not_make(textkit_sandbox):
    # the model stashed an experiment, then committed its change: the tree is clean, so the
    # review stashes nothing and must leave the model's stash where it is
    tools = SandboxTools(textkit_sandbox, agent_config())
    textkit_sandbox.write_file("textkit/slug.py", "# experiment\n")
    textkit_sandbox.run("git -c user.name=t -c user.email=t@t stash push -q")
    tools.edit(path="textkit/trunc.py", old=BREAK[0], new=BREAK[1])
    textkit_sandbox.run("git add -A && git -c user.name=t -c user.email=t@t commit -qm model-commit")
    assert tools.submit().startswith("submitted")  # no base to compare with: not blocked
    assert textkit_sandbox.run("git stash list").stdout.count("\n") == 1
    assert "# experiment" not in textkit_sandbox.read_file("textkit/slug.py")


def test_a_new_failing_file_counts_against_the_change(textkit_sandbox):
    # untracked files are part of the change: the base run must not see them
    tools = SandboxTools(textkit_sandbox, agent_config())
    tools.create(path="tests/test_added.py", content="def test_added():\n    assert False\n")
    with pytest.raises(ToolError, match="tests/test_added.py::test_added"):
        tools.submit()
    assert "tests/test_added.py" in textkit_sandbox.diff()
