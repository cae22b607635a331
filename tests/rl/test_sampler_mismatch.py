"""Truncated importance weights for engine-sampled GRPO tokens: the ratio, its cap, forced
tokens, and the mismatch statistics; and the weights reaching TRL's loss as ``env_mask``."""

from __future__ import annotations

import math

import pytest

from patchloop.rl.sampler_mismatch import truncated_weights


def test_each_token_weighs_its_ratio_cut_at_the_cap_and_forced_tokens_weigh_one():
    train = [[math.log(0.5), math.log(0.9), 0.0], [math.log(0.2)]]
    engine = [[math.log(0.25), math.log(0.9), 0.0], [math.log(0.01)]]
    forced = [[False, False, True], [False]]
    weights, stats = truncated_weights(train, engine, forced, cap=3.0)
    assert weights[0] == pytest.approx([2.0, 1.0, 1.0]) and weights[1] == pytest.approx([3.0])  # 20 cut to 3
    assert stats["is_ratio_max"] == pytest.approx(20.0) and stats["is_ratio_min"] == pytest.approx(1.0)
    assert stats["is_capped_share"] == pytest.approx(1 / 3)
    assert stats["logp_diff_max"] == pytest.approx(math.log(20))
    # E[r - 1 - log r] over the three sampled tokens
    expected_kl = ((2 - 1 - math.log(2)) + 0 + (20 - 1 - math.log(20))) / 3
    assert stats["kl_engine_train"] == pytest.approx(expected_kl)


def test_agreeing_samplers_weigh_one_and_nothing_sampled_reports_nothing():
    lps = [[-0.1, -2.0]]
    weights, stats = truncated_weights(lps, lps, [[False, False]])
    assert weights == [[1.0, 1.0]] and stats["kl_engine_train"] == 0 and stats["is_ratio_mean"] == 1
    assert truncated_weights([[]], [[]], [[]]) == ([[]], {})


def test_a_non_finite_logprob_weighs_one_rather_than_poisoning_the_loss():
    weights, stats = truncated_weights([[float("nan"), -1.0]], [[-1.0, float("-inf")]], [[False, False]])
    assert weights == [[1.0, 1.0]] and stats == {}
