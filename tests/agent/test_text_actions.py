"""Text-action mode: one fenced shell command per turn, on the same sandbox, budgets and
trajectory format as tool calling."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from patchloop.agent.runner import run_episode
from patchloop.agent.text_actions import parse_action
from tests.agent.agent_scripted import ScriptedChatModel
from tests.agent.conftest import agent_config


@pytest.mark.parametrize("text, command, error_part", [
    ("Look first.\n```bash\ngrep -rn 'def truncate' .\n```", "grep -rn 'def truncate' .", None),
    ("```\nls\n```", "ls", None),
    ("```sh\nsubmit\n```", "submit", None),
    ("I will run ls", None, "no ```bash block"),
    ("```bash\nls\n```\nthen\n```bash\npwd\n```", "ls", "only the first of your 2 commands ran"),
    ("```bash\nls -la", None, "never closed"),
    ("```bash\n\n```", None, "empty"),
])
def test_parse_action(text, command, error_part):
    got, message = parse_action(text)
    assert got == command
    if error_part:
        assert error_part in message
        if command is None:
            assert "```bash\n<one command>\n```" in message  # the format is shown
    else:
        assert message is None


class RecordingModel(ScriptedChatModel):
    seen: list = []

    def _generate(self, messages, stop: Any = None, run_manager: Any = None, **kw: Any):
        self.seen.append(list(messages))
        return super()._generate(messages, stop, run_manager, **kw)


def reply(text: str) -> AIMessage:
    return AIMessage(content=text)


TEXT_SCRIPT = [
    reply("Find the function.\n```bash\ngrep -n 'width' textkit/trunc.py\n```"),
    reply("I would change it now."),  # no block: a format error, not a crash
    reply("Fix the comparison.\n```bash\nsed -i 's/if len(text) < width:/if len(text) <= width:/' textkit/trunc.py\n```"),
    reply("Run the tests.\n```bash\n$PY -m pytest -q tests/test_trunc.py\n```"),
    reply("Done.\n```bash\nsubmit\n```"),
]


def test_a_text_mode_episode_fixes_the_bug(textkit_sandbox, textkit_task):
    import sys

    script = [m.model_copy(update={"content": m.content.replace("$PY", sys.executable)}) for m in TEXT_SCRIPT]
    model = RecordingModel(replies=script, seen=[])
    traj = run_episode(model, textkit_sandbox, textkit_task, agent_config(max_steps=8, action_mode="text"))
    assert traj.exit_reason == "submitted" and len(traj.steps) == 5
    assert "+    if len(text) <= width:" in traj.model_patch
    # the same trajectory format as tool calling: each action is the tool call it stands for
    assert [c["name"] for s in traj.steps for c in s.tool_calls if not c.get("invalid")] == ["run", "run", "run", "submit"]
    assert "Format error" in traj.steps[1].observations[0] and "no ```bash block" in traj.steps[1].observations[0]
    assert "passed" in traj.steps[3].observations[0]
    # what the model was sent: plain turns, its own words, results as user turns, no tool structure
    last = model.seen[-1]
    assert isinstance(last[0], SystemMessage) and "exactly one block" in last[0].content
    assert not any(isinstance(m, ToolMessage) or getattr(m, "tool_calls", None) for m in last)
    assert any(isinstance(m, HumanMessage) and m.content.startswith("<output>\n[exit code 0]") for m in last)
    assert any(isinstance(m, AIMessage) and "```bash\ngrep -n" in m.content for m in last)


def test_of_several_commands_the_first_runs_and_the_model_is_told_the_rest_did_not(textkit_sandbox, textkit_task):
    plan = reply("Fix, test, submit.\n```bash\nsed -i 's/if len(text) < width:/if len(text) <= width:/' textkit/trunc.py\n```"
                 "\n```bash\npython -m pytest -q\n```\n```bash\nsubmit\n```")
    model = RecordingModel(replies=[plan, reply("```bash\nsubmit\n```")], seen=[])
    traj = run_episode(model, textkit_sandbox, textkit_task, agent_config(max_steps=4, action_mode="text"))
    assert traj.exit_reason == "submitted" and len(traj.steps) == 2  # the plan's own submit did not run
    assert [c["args"] for c in traj.steps[0].tool_calls] == [
        {"command": "sed -i 's/if len(text) < width:/if len(text) <= width:/' textkit/trunc.py"}]
    assert "+    if len(text) <= width:" in traj.model_patch
    shown = model.seen[1][-1]
    assert isinstance(shown, HumanMessage)
    assert shown.content.startswith("[only the first of your 3 commands ran") and "<output>\n[exit code 0]" in shown.content


def test_demonstrations_are_optional_and_versioned():
    from patchloop.agent.window import system_prompt

    for mode in ("text", "tools"):
        plain = system_prompt(agent_config(action_mode=mode))
        with_demo = system_prompt(agent_config(action_mode=mode, demonstrations=True))
        assert with_demo.startswith(plain) and "Example of a good exchange" in with_demo
        assert "Example" not in plain
