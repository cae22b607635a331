"""Argument repair against the real tools' schemas, and the agent taking calls small models
write as text (fenced JSON, a bare `submit`) all the way to a resolved fix."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from patchloop.agent.call_repair import repair_arguments, signature
from patchloop.agent.runner import run_episode
from patchloop.agent.tools import SandboxTools, langchain_tools
from tests.agent.agent_scripted import ScriptedChatModel
from tests.agent.conftest import agent_config

SCHEMAS = {t.name: convert_to_openai_tool(t)["function"]["parameters"] for t in langchain_tools(SandboxTools(None))}


@pytest.mark.parametrize("tool, args, want, note", [
    ("view", {"file_path": "a.py", "start_line": "551", "end_line": 564.0}, {"path": "a.py", "start": 551, "end": 564},
     "'file_path' was taken as 'path'"),
    ("view", {"path": "a.py", "reason": "to look"}, {"path": "a.py"}, "takes no argument 'reason'"),
    ("view", {"pth": "a.py", "start": None}, {"path": "a.py"}, "'pth' was taken as 'path'"),
    ("run", {"cmd": "ls", "timeout": "30"}, {"command": "ls", "timeout": 30.0}, "'cmd' was taken as 'command'"),
    ("edit", {"file": "a.py", "old_str": "x", "new_str": "y"}, {"path": "a.py", "old": "x", "new": "y"}, "'old_str' was taken as 'old'"),
    ("create", {"path": "a.py", "content": ["x = 1", "y = 2"]}, {"path": "a.py", "content": "x = 1\ny = 2"}, None),
    ("run_tests", {"test_file": "tests/test_a.py"}, {"selector": "tests/test_a.py"}, "taken as 'selector'"),
])
def test_near_miss_arguments_are_mended_with_a_note(tool, args, want, note):
    got, notes, error = repair_arguments(tool, args, SCHEMAS[tool])
    assert error is None and got == want
    if note:
        assert any(note in n for n in notes), notes


@pytest.mark.parametrize("tool, args, error_part", [
    ("view", {}, "view needs 'path'"),
    ("view", {"path": "a.py", "start": "abc"}, "argument 'start' of view must be an integer"),
    ("edit", {"path": "a.py", "old": "x"}, "edit needs 'new'"),
    ("search", {"pattern": {"re": "x"}}, "must be a string"),
])
def test_arguments_without_an_obvious_reading_are_errors_showing_the_signature(tool, args, error_part):
    _, _, error = repair_arguments(tool, args, SCHEMAS[tool])
    assert error_part in error and signature(tool, SCHEMAS[tool]) in error


def test_signature_marks_optional_parameters():
    assert signature("view", SCHEMAS["view"]) == "view(path: string, start?: integer, end?: integer)"


def text(content: str) -> AIMessage:
    return AIMessage(content=content)


# The way Qwen2.5-Coder-1.5B wrote its calls behind `patchloop serve`: none has a <tool_call> tag.
SMALL_MODEL_SCRIPT = [
    text('Let me look at the file.\n```json\n{"name": "view", "arguments": {"file_path": "textkit/trunc.py", "start": "1"}}\n```'),
    text('<tools>\n{"name": "edit", "arguments": {"path": "textkit/trunc.py", "old_str": "    if len(text) < width:", '
         '"new_str": "    if len(text) <= width:"}}\n{"name": "run_tests", "arguments": {"selector": "tests/test_trunc.py"}}\n</tools>'),
    text("```json\n{\"name\": \"view\", \"arguments\": {\"path\": \"textkit/trunc.py\",}\n```"),
    text("submit"),
]


def test_the_agent_fixes_the_bug_from_calls_written_as_text(textkit_sandbox, textkit_task):
    model = ScriptedChatModel(replies=SMALL_MODEL_SCRIPT)
    traj = run_episode(model, textkit_sandbox, textkit_task, agent_config(max_steps=8))
    assert traj.exit_reason == "submitted" and len(traj.steps) == 4
    assert "+    if len(text) <= width:" in traj.model_patch
    view, edit_and_test, bad, _ = (s.observations for s in traj.steps)
    assert "note: argument 'file_path' was taken as 'path'" in view[0] and "def truncate" in view[0]
    assert "note: argument 'old_str' was taken as 'old'" in edit_and_test[0] and "edited textkit/trunc.py" in edit_and_test[0]
    assert "passed" in edit_and_test[1] and "failed" not in edit_and_test[1]
    [msg] = bad  # the broken block goes back to the model with the reason, the run goes on
    assert "not valid JSON" in msg and "<tool_call>" in msg
