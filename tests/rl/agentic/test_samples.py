"""``trajectory_segments`` on real episodes of the agent (tiny models, real sandboxes): the
model's own tokens are marked and nothing else, tool outputs are not, the logprobs sit on the
tokens they belong to, and a conversation cut to fit the context becomes two sequences."""

from __future__ import annotations

import pytest

from patchloop.rl.agentic.samples import trajectory_segments
from patchloop.types import Step, Trajectory
from tests.agent.conftest import agent_config, load_instance

pytestmark = [pytest.mark.train, pytest.mark.slow]


def episode(model_dir, seed: int, backend: str, **agent) -> Trajectory:
    from patchloop.agent.runner import run_episode
    from patchloop.agent.workspace import open_workspace
    from patchloop.llm import load_chat_model

    task = load_instance("textkit-1")
    model = load_chat_model(f"hf:{model_dir}", temperature=1.0, max_tokens=agent["completion_tokens"], seed=seed)
    with open_workspace(task, backend) as (sandbox, python):  # as rollouts get them
        return run_episode(model, sandbox, task, agent_config(**agent, python=python))


def test_only_sampled_tokens_are_marked_and_tool_output_is_not(submitting_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from tests.rl.agentic.fitted_tools import AGENT

    runs = (episode(submitting_dir, seed, "docker", **AGENT) for seed in range(8))
    traj = next(t for t in runs if t.steps[0].tool_calls and t.steps[0].tool_calls[0]["name"] == "edit")
    assert len(traj.steps) == 2 and traj.steps[1].continued and traj.exit_reason == "submitted"
    [seg] = trajectory_segments(traj)
    first, last = traj.steps
    assert seg.input_ids == last.prompt_token_ids + last.token_ids and seg.prompt_len == len(first.prompt_token_ids)
    assert len(seg.model_mask) == len(seg.logprobs) == len(seg.input_ids)
    spans = [(len(s.prompt_token_ids), len(s.prompt_token_ids) + len(s.token_ids)) for s in traj.steps]
    sampled = [i for a, b in spans for i in range(a, b)]
    assert [i for i, m in enumerate(seg.model_mask) if m] == sampled
    assert [seg.logprobs[i] for i in sampled] == first.logprobs + last.logprobs
    assert all(seg.logprobs[i] == 0.0 for i, m in enumerate(seg.model_mask) if not m)
    # Between the two replies: the edit's real result, rendered as a tool response, all masked.
    between = seg.input_ids[spans[0][1]: spans[1][0]]
    assert not any(seg.model_mask[spans[0][1]: spans[1][0]])
    from patchloop.llm.serving.local import get_local_model

    text = get_local_model(str(submitting_dir)).tokenizer.decode(between)
    assert "<tool_response>" in text and first.observations[0] in text
    # One forward pass over the sequence gives back the recorded logprobs on the sampled tokens.
    model = AutoModelForCausalLM.from_pretrained(submitting_dir)
    with torch.no_grad():
        logits = model(torch.tensor([seg.input_ids])).logits[0, :-1]
    scored = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(seg.input_ids[1:])[:, None])[:, 0]
    assert torch.allclose(scored[torch.tensor(sampled) - 1], torch.tensor([seg.logprobs[i] for i in sampled]),
                          atol=2e-3)


def test_a_conversation_cut_to_fit_the_context_gives_two_segments(tiny_dir):
    # 2,300 tokens: three turns fit whole, the fourth only with old replies shortened (sizes
    # set for an opening with a 300-token outline and no named code)
    traj = episode(tiny_dir, 0, "local", max_steps=4, context_tokens=2300, completion_tokens=120,
                   repo_map_tokens=300, focus_tokens=0)
    cut = [i for i, s in enumerate(traj.steps) if s.context_cut]
    assert cut and all(s.continued for s in traj.steps[1: cut[0]])
    segments = trajectory_segments(traj)
    assert len(segments) == 2
    whole, rest = segments
    before = traj.steps[cut[0] - 1]
    assert whole.input_ids == before.prompt_token_ids + before.token_ids
    assert rest.prompt_len == len(traj.steps[cut[0]].prompt_token_ids)
    assert sum(map(sum, (s.model_mask for s in segments))) == sum(len(s.token_ids) for s in traj.steps)


def test_a_trajectory_without_token_ids_is_one_clear_error():
    hosted = Trajectory("t-1", steps=[Step(0, token_ids=None)])
    with pytest.raises(ValueError, match=r"^t-1 step 0: no token ids recorded") as e:
        trajectory_segments(hosted)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="no model steps"):
        trajectory_segments(Trajectory("t-2"))
    forged = Trajectory("t-3", steps=[Step(0, prompt_token_ids=[1, 2], token_ids=[3], logprobs=[-0.1]),
                                      Step(1, prompt_token_ids=[1, 9, 3, 4], token_ids=[5], logprobs=[-0.2],
                                           continued=True)])
    with pytest.raises(ValueError, match="t-3 step 1: marked continued but its prompt does not extend"):
        trajectory_segments(forged)
