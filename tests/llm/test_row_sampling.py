"""Seeded requests share a batch: each row samples from its own seed, the same draws it
gets alone, and nucleus filtering keeps what top-p says."""

from __future__ import annotations

import pytest

from patchloop.llm.serving.batched import BatchRequest
from patchloop.llm.serving.row_sampling import RowSampler, candidates
from tests.llm.conftest import user_prompt

pytestmark = pytest.mark.train


def test_a_seeded_row_draws_what_it_draws_alone_whatever_shares_its_batch(tiny_engine):
    p, other = user_prompt(tiny_engine, "sample me"), user_prompt(tiny_engine, "a longer neighbour request with more tokens")
    alone = tiny_engine.generate(p, max_new_tokens=16, temperature=1.0, seed=11, reuse_prefix=False)
    batch = tiny_engine.generate_batch([BatchRequest(other, 16, seed=5), BatchRequest(p, 16, seed=11),
                                   BatchRequest(other, 16)], temperature=1.0)
    assert batch[1].token_ids == alone.token_ids
    again = tiny_engine.generate_batch([BatchRequest(p, 16, seed=11), BatchRequest(p, 16, seed=12),
                                   BatchRequest(p, 16, seed=11)], temperature=1.0)
    assert again[0].token_ids == again[2].token_ids == alone.token_ids
    assert again[1].token_ids != alone.token_ids  # rows do not share one stream of draws


def test_a_narrow_nucleus_leaves_only_the_most_likely_token(tiny_engine):
    p = user_prompt(tiny_engine, "greedy in disguise")
    greedy = tiny_engine.generate(p, max_new_tokens=12, temperature=0, reuse_prefix=False)
    narrow = tiny_engine.generate_batch([BatchRequest(p, 12, seed=s) for s in (1, 2)], temperature=1.0, top_p=1e-6)
    assert [g.token_ids for g in narrow] == [greedy.token_ids] * 2


def test_top_p_keeps_the_smallest_set_that_reaches_it_with_or_without_the_shortlist():
    import torch

    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.9, 0.03, 0.02]])
    kept = [(p.tolist(), ids.tolist()) for p, ids in candidates(probs, 0.75, torch)]
    assert [ids for _, ids in kept] == [[0, 1], [1]] and kept[0][0] == pytest.approx([0.5, 0.3])
    # a shortlist of 2 does not reach 0.9 in the first row: that row is sorted whole
    wide = [(p.tolist(), ids.tolist()) for p, ids in candidates(probs, 0.9, torch, shortlist=2)]
    assert wide[0][1] == [0, 1, 2] and wide[0][0] == pytest.approx([0.5, 0.3, 0.15]) and wide[1][1] == [1]


def test_each_row_draws_tokens_with_their_probabilities():
    import torch

    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1, 1e-9]] * 2))
    sampler = RowSampler([7, 8], temperature=1.0, top_p=1.0, torch=torch)
    draws = torch.stack([sampler(None, logits).argmax(dim=-1) for _ in range(3000)])
    for row in draws.T:
        freq = torch.bincount(row, minlength=4).float() / len(row)
        assert torch.allclose(freq, torch.tensor([0.7, 0.2, 0.1, 0.0]), atol=0.03)


def test_batch_logprobs_are_the_models_own_for_every_row(tiny_engine):
    """Kept one float per step (not a vocabulary-wide row): re-scored by one forward pass."""
    import torch

    prompts = [user_prompt(tiny_engine, "first"), user_prompt(tiny_engine, "a second, longer prompt for the batch")]
    gens = tiny_engine.generate_batch([BatchRequest(p, 10, seed=s) for p, s in zip(prompts, (1, 2))], temperature=1.0)
    for p, g in zip(prompts, gens):
        ids = torch.tensor([p + g.token_ids])
        with torch.no_grad():
            logits = tiny_engine.model(input_ids=ids).logits[0, len(p) - 1:-1].float()
        expected = torch.log_softmax(logits, -1).gather(1, torch.tensor(g.token_ids)[:, None])[:, 0]
        assert len(g.logprobs) == len(g.token_ids) == 10
        assert torch.allclose(torch.tensor(g.logprobs), expected, atol=1e-3)
