"""After a reply the agent could not act on, the next one is sampled warmer, so a greedy
model does not write the same failed reply until its steps run out."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage

from patchloop.agent.runner import run_episode
from tests.agent.agent_scripted import ScriptedChatModel, call
from tests.agent.conftest import agent_config

NO_CALL = AIMessage(content="<tool_response>\n\n</tool_response>")  # as the 1.5B model wrote, greedy


class TemperatureRecorder(ScriptedChatModel):
    seen: list = []
    temperature: float | None = None  # the model's own setting, as real chat models have it

    def _generate(self, messages, stop: Any = None, run_manager: Any = None, **kw: Any):
        self.seen.append(kw.get("temperature"))
        return super()._generate(messages, stop, run_manager, **kw)


def script() -> list[AIMessage]:
    return [NO_CALL, call("view", path="textkit/trunc.py"), NO_CALL, NO_CALL, call("submit"), call("submit")]


def test_the_reply_after_a_failed_one_is_sampled_at_the_retry_temperature(textkit_sandbox, textkit_task):
    model = TemperatureRecorder(replies=script(), seen=[])
    traj = run_episode(model, textkit_sandbox, textkit_task, agent_config(max_steps=8))
    assert model.seen[:5] == [None, 0.7, None, 0.7, 0.7]  # only after replies without a call
    assert [s.extra.get("temperature") for s in traj.steps[:5]] == [None, 0.7, None, 0.7, 0.7]


def test_a_warmer_model_and_a_zero_setting_are_left_alone(textkit_sandbox, textkit_task):
    warm = TemperatureRecorder(replies=script(), seen=[], temperature=1.0)
    run_episode(warm, textkit_sandbox, textkit_task, agent_config(max_steps=8))
    off = TemperatureRecorder(replies=script(), seen=[], temperature=0.0)
    run_episode(off, textkit_sandbox, textkit_task, agent_config(max_steps=8, retry_temperature=0))
    assert set(warm.seen) == set(off.seen) == {None}


def test_rollouts_sample_at_the_runs_own_temperature():
    from patchloop.rl.agentic.config import AgentSettings

    assert AgentSettings().retry_temperature == 0.0
    assert AgentSettings().leave_out_repeats is False  # one token sequence per trajectory
