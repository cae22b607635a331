"""The repair reward is the repair grader behind TRL's signature: rows from the repair view,
replies as sampled, the same verdicts as evaluation, faults 0 and infrastructure ``None``."""

from __future__ import annotations

import pickle

import pytest

from patchloop.datagen.repos.repair import repair_row
from patchloop.evals import extract
from patchloop.evals.repair import grade_repair
from patchloop.rl.repair_reward import RepairReward
from patchloop.rl.rewards import RewardInfraError
from tests.evals.swe_helpers import builtin
from tests.evals.test_repair_grader import function_source, reply


@pytest.fixture(scope="module")
def textkit():
    task = builtin("textkit-1")
    row = repair_row(task, backend="local")
    gold = reply(function_source(task, "textkit/trunc.py", "truncate", gold=True))
    buggy = reply(function_source(task, "textkit/trunc.py", "truncate", gold=False))
    return task, row, gold, buggy


def columns(row: dict, n: int) -> dict:
    """What TRL passes: each dataset column as a list, one entry per completion."""
    return {k: [row[k]] * n for k in ("instance_id", "instance", "targets")}


def test_rewards_follow_the_graders_verdicts(textkit):
    task, row, gold, buggy = textkit
    completions = [[{"role": "assistant", "content": gold}], buggy, "no code here", ""]
    reward = RepairReward(backend="local")
    got = reward([row["prompt"]] * 4, completions, **columns(row, 4))
    assert got == [1.0, 0.0, 0.0, 0.0]
    assert [r.verdict for r in reward.last_results] == ["resolved", "unchanged", extract.NO_CODE, extract.EMPTY]
    # evaluation, calling the grader directly on the same reply, agrees
    assert grade_repair(task, gold, targets=row["targets"], backend="local").reward == got[0]


def test_a_reply_at_the_token_limit_scores_zero(textkit):
    _, row, gold, _ = textkit
    reward = RepairReward(backend="local", max_completion_tokens=8)
    kw = columns(row, 3) | {"completion_ids": [list(range(8)), list(range(3)), list(range(3))],
                            "finish_reason": [None, "length", "stop"]}
    assert reward([row["prompt"]] * 3, [gold] * 3, **kw) == [0.0, 0.0, 1.0]
    assert [r.verdict for r in reward.last_results][:2] == [extract.TRUNCATED] * 2


def test_an_unusable_row_is_unscored_and_a_batch_of_them_raises(textkit):
    _, row, gold, _ = textkit
    reward = RepairReward(backend="local")
    kw = columns(row, 2) | {"instance": ["not json", row["instance"]]}
    assert reward([row["prompt"]] * 2, [gold, gold], **kw) == [None, 1.0]
    assert reward.last_results[0].verdict == "error" and "unusable row" in reward.last_results[0].reason
    with pytest.raises(RewardInfraError):
        reward([row["prompt"]], [gold], **(columns(row, 1) | {"instance": ["{}"]}))


def test_the_reward_pickles_with_its_settings():
    reward = RepairReward(backend="local", timeout_s=30, workers=2)
    reward.last_results = ["a live result"]
    copy = pickle.loads(pickle.dumps(reward))
    assert (copy.__name__, copy.backend, copy.timeout_s, copy.workers, copy.last_results) == \
        ("repair", "local", 30, 2, [])
