"""A step that repeated an earlier step, reply and results, is left out of what the model is
sent next, with one line saying so; the trajectory still keeps every step."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from patchloop.agent.progress import LEFT_OUT, without_repeats
from patchloop.agent.runner import run_episode
from tests.agent.agent_scripted import ScriptedChatModel, call
from tests.agent.conftest import agent_config


def step(command: str, result: str, n: int) -> list:
    ai = AIMessage(content="", tool_calls=[{"name": "run", "args": {"command": command}, "id": f"c{n}"}])
    return [ai, ToolMessage(result, tool_call_id=f"c{n}", name="run")]


HEAD = [SystemMessage("system"), HumanMessage("the issue")]


def test_repeats_with_the_same_results_become_one_line():
    msgs = HEAD + step("ls", "a.py", 1) + step("cat a.py", "x = 1", 2) + step("ls", "a.py\nnote: same as step 1", 3) \
        + step("ls", "a.py\nnote: same as step 1", 4) + step("pwd", "/repo", 5)
    sent = without_repeats(msgs)
    assert [m.content for m in sent[:6]] == [m.content for m in msgs[:6]]
    note = sent[6]
    assert isinstance(note, HumanMessage) and note.additional_kwargs[LEFT_OUT] == [3, 4]
    assert "step 3 repeated step 1, step 4 repeated step 1" in note.content
    assert sent[7:] == msgs[10:]  # what came after the run is kept as it was
    assert sum(isinstance(m, AIMessage) for m in sent) == 3


def test_a_repeat_that_learned_something_new_is_kept():
    msgs = HEAD + step("pytest", "1 failed", 1) + step("sed -i s/a/b/ a.py", "", 2) + step("pytest", "1 passed", 3)
    assert without_repeats(msgs) == msgs


def test_the_latest_repeat_is_left_out_too_and_nothing_else_changes():
    msgs = HEAD + step("ls", "a.py", 1) + step("ls", "a.py", 2)
    sent = without_repeats(msgs)
    assert sent[:4] == msgs[:4] and sent[4].additional_kwargs[LEFT_OUT] == [2] and len(sent) == 5
    assert without_repeats(HEAD + step("ls", "a.py", 1)) == HEAD + step("ls", "a.py", 1)


class SentRecorder(ScriptedChatModel):
    sent: list = []

    def _generate(self, messages, stop: Any = None, run_manager: Any = None, **kw: Any):
        self.sent.append(list(messages))
        return super()._generate(messages, stop, run_manager, **kw)


def test_an_episode_sends_one_copy_and_keeps_every_step(textkit_sandbox, textkit_task):
    look = call("view", path="textkit/trunc.py")
    replies = [look, look, look, call("submit"), call("submit")]
    model = SentRecorder(replies=replies, sent=[])
    traj = run_episode(model, textkit_sandbox, textkit_task, agent_config(max_steps=6))
    fourth = model.sent[3]
    assert sum(isinstance(m, AIMessage) for m in fourth) == 1  # the view once, not three times
    assert "step 2 repeated step 1, step 3 repeated step 1" in fourth[-1].content
    assert len(traj.steps) >= 4 and [s.tool_calls[0]["name"] for s in traj.steps[:3]] == ["view"] * 3
    assert traj.steps[3].context_cut and len(traj.steps[3].prompt_messages) == len(fourth)  # what was sent

    shown = SentRecorder(replies=replies, sent=[])
    run_episode(shown, textkit_sandbox, textkit_task, agent_config(max_steps=6, leave_out_repeats=False))
    assert sum(isinstance(m, AIMessage) for m in shown.sent[3]) == 3
