"""Salvaging tool calls from replies written the way small models write them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchloop.llm.toolcalls.salvage import salvage_tool_calls

TOOLS = {"view", "search", "repo_map", "edit", "create", "run", "run_tests", "submit"}


def calls(text):
    out = salvage_tool_calls(text, TOOLS)
    return [(c["name"], c["args"]) for c in out.tool_calls], out


# Shapes seen from Qwen2.5-Coder 0.5B/1.5B-Instruct behind an OpenAI-compatible server.
@pytest.mark.parametrize("text, want", [
    ('To check the function I will view it.\n```json\n{"name": "view", "arguments": {"path": "src/trunc.py", "start": 551, "end": 564}}\n```',
     [("view", {"path": "src/trunc.py", "start": 551, "end": 564})]),
    ('<tools>\n{"name": "search", "arguments": {"pattern": "def truncate"}}\n{"name": "edit", "arguments": {"path": "a.py", "old": "x", "new": "y"}}\n</tools>',
     [("search", {"pattern": "def truncate"}), ("edit", {"path": "a.py", "old": "x", "new": "y"})]),
    ('{"name": "run_tests", "arguments": {"selector": "tests/test_trunc.py"}}', [("run_tests", {"selector": "tests/test_trunc.py"})]),
    ("submit", [("submit", {})]),
    ("`submit`", [("submit", {})]),
    ("The fix is done and the tests pass.\n\nsubmit", [("submit", {})]),
    ("I am done.\nsubmit()", [("submit", {})]),
    ('view(path="textkit/trunc.py", start=3)', [("view", {"path": "textkit/trunc.py", "start": 3})]),
    ('<function=view>{"path": "a.py"}</function>', [("view", {"path": "a.py"})]),
    ("<function=edit>\n<parameter=path>\na.py\n</parameter>\n<parameter=old>\nx = 1\n</parameter>\n<parameter=new>\nx = 2\n</parameter>\n</function>",
     [("edit", {"path": "a.py", "old": "x = 1", "new": "x = 2"})]),
    ('```json\n{"function": {"name": "view", "arguments": "{\\"path\\": \\"a.py\\"}"}}\n```', [("view", {"path": "a.py"})]),
    ('```\n{"name": "edit", "arguments": {"path": "a.py", "old": "def f():\n    return 1", "new": "def f():\n    return 2"}}\n```',
     [("edit", {"path": "a.py", "old": "def f():\n    return 1", "new": "def f():\n    return 2"})]),  # raw newlines in strings
    ("```python\n{'name': 'view', 'arguments': {'path': 'a.py'}}\n```", [("view", {"path": "a.py"})]),
    ('{"tool": "run", "command": "ls"}', [("run", {"command": "ls"})]),  # arguments at the top level
    ('<tool_call>\n{"name": "view", "arguments": {"path": "a.py"}}', [("view", {"path": "a.py"})]),
])
def test_small_model_shapes_are_read_as_calls(text, want):
    got, out = calls(text)
    assert got == want
    assert not out.invalid_tool_calls
    assert "{" not in out.content and "<tools>" not in out.content and "submit" not in out.content


def test_prose_and_quoted_data_are_not_calls():
    for text in [
        "I think the bug is in truncate; let me submit a fix after checking.",
        'The config file holds {"name": "demo", "version": 2}.',
        "```python\ndef submit():\n    return run(x)\n```",
        "self.view(path='a')",
        "",
    ]:
        got, out = calls(text)
        assert got == [] and out.invalid_tool_calls == [], text


@pytest.mark.parametrize("text, error_part", [
    ('```json\n{"name": "view", "arguments": {"path": "a.py",}\n```', "not valid JSON"),
    ('```json\n{"name": "veiw", "arguments": {"path": "a.py"}}\n```', "unknown tool 'veiw'"),
    ('{"name": "view", "arguments": "path=a.py"}', "not a JSON object"),
    ('<function=look>{"path": "a"}</function>', "names no tool"),
    ('<function=view>{path: a}</function>', "not valid JSON"),
    ('{"name": "run", "arguments": [1, 2]}', "must be a JSON object, got list"),
])
def test_near_misses_say_what_was_wrong(text, error_part):
    got, out = calls(text)
    assert got == []
    [bad] = out.invalid_tool_calls
    assert error_part in bad["error"] and "<tool_call>" in bad["error"]  # the fix is shown too
    assert len(bad["args"]) <= 300


def test_a_json_block_and_a_valid_call_beside_it():
    text = 'First:\n```json\n{"name": "view", "arguments": {"path": "a.py"}}\n```\nthen ```json\n{"name": "view"\n```'
    got, out = calls(text)
    assert got == [("view", {"path": "a.py"})]
    assert len(out.invalid_tool_calls) == 1 and out.content.startswith("First:")


@settings(max_examples=200, deadline=None)  # a loaded CI machine is no parser bug
@given(st.lists(st.sampled_from(list('{}[]"`:,\n <>/=()ab') + ['"name"', "submit", "```json\n", "```", "<tools>", "<function=",
                                                                 '"arguments"', "view", "</function>"]), max_size=40).map("".join))
def test_never_raises(text):
    out = salvage_tool_calls(text, TOOLS)
    for c in out.tool_calls:
        assert c["name"] in TOOLS and isinstance(c["args"], dict)
    assert isinstance(out.content, str)
