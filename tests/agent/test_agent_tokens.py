"""Trajectories keep the exact prompt ids: a real episode of the tiny ``hf:`` model in a real
local sandbox, with the window small enough that context fitting cuts the conversation."""

from __future__ import annotations

import pytest

from patchloop.agent.runner import run_episode
from patchloop.agent.trajectory import read_trajectory, write_trajectory
from tests.agent.conftest import agent_config

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from patchloop.llm.catalog.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


def test_trajectory_prompt_ids_are_what_the_model_was_fed(tiny_dir, textkit_sandbox, textkit_task, tmp_path):
    from patchloop.llm import load_chat_model
    from patchloop.llm.clients.hf import to_template_messages

    model = load_chat_model(f"hf:{tiny_dir}", temperature=1.0, max_tokens=120, seed=0)
    fed: list[list[int]] = []
    inner = model.engine.generate
    model.engine.generate = lambda prompt_ids, **kw: (fed.append(list(prompt_ids)), inner(prompt_ids, **kw))[1]
    # 2,300 tokens: three turns fit whole, the fourth only with old replies shortened
    cfg = agent_config(max_steps=6, context_tokens=2300, completion_tokens=120, repo_map_tokens=300)
    traj = run_episode(model, textkit_sandbox, textkit_task, cfg)
    write_trajectory(tmp_path / "t.jsonl", traj)
    steps = read_trajectory(tmp_path / "t.jsonl").steps
    assert [s.prompt_token_ids for s in steps] == fed
    assert any(s.continued for s in steps) and any(s.context_cut for s in steps)
    assert not steps[0].continued and not steps[0].context_cut
    for before, step in zip(steps, steps[1:]):
        head = before.prompt_token_ids + before.token_ids
        if step.context_cut:  # the shortened conversation was rendered fresh, and is stored
            assert not step.continued and step.prompt_token_ids[: len(head)] != head
            assert any("[older output shortened" in str(m["content"]) for m in step.prompt_messages)
            rendered = model.engine.render(to_template_messages(step.prompt_messages), traj.extra["tools"])
            assert rendered == step.prompt_token_ids
        else:  # the whole conversation went out, extended by ids
            assert step.continued and step.prompt_messages is None
            assert step.prompt_token_ids[: len(head)] == head
