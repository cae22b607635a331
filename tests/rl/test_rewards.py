"""Reward functions: TRL's signature, None on infrastructure failure, and reward hacks scoring 0.

Everything runs through the real grader in a real local sandbox (the Docker path is the
grader's own tests' business; here it is the reward's contract that is under test).
"""

from __future__ import annotations

import pickle

import pytest

from patchloop.rl.data import grpo_rows
from patchloop.rl.rewards import ExecutionReward, FormatReward, RewardInfraError, WeightedReward

PROMPT = 'def calc(x):\n    """Return x plus 3, then times 2."""\n'
TEST = "def check(candidate):\n" + "".join(f"    assert candidate({x}) == {(x + 3) * 2}\n" for x in (1, 2, 5, -4))
ROW = {"task_id": "t/1", "prompt": PROMPT, "entry_point": "calc", "test": TEST, "level": 2, "family": "arith",
       "cases": [{"args": [x], "expected": (x + 3) * 2} for x in (1, 2, 5, -4)]}


def call(reward, completions, rows=None):
    """Call a reward the way GRPOTrainer does: prompts, completions and dataset columns as kwargs."""
    rows = grpo_rows(rows or [ROW] * len(completions), "completion")
    cols = {k: [r[k] for r in rows] for k in rows[0] if k != "prompt"}
    metrics = {}
    out = reward([r["prompt"] for r in rows], completions, completion_ids=[[1]] * len(rows),
                 log_metric=metrics.__setitem__, **cols)
    return out, metrics


@pytest.fixture(scope="module")
def execution():
    r = ExecutionReward(partial=False, backend="local")
    yield r
    r.close()


def test_execution_reward_scores_right_wrong_and_partial(execution):
    out, metrics = call(execution, ["    return (x + 3) * 2\n", "    return x\n", "    return x * 2 + 6\n"])
    assert out == [1.0, 0.0, 1.0]
    assert metrics["pass_rate"] == pytest.approx(2 / 3)
    partial = ExecutionReward(partial=True, backend="local")
    try:
        # x + 9 equals (x + 3) * 2 only at x = 3... never here; x * 2 + 6 - (x == 5) fails one case.
        out, _ = call(partial, ["    return x * 2 + 6 - (x == 5)\n", "    return (x + 3) * 2\n"])
    finally:
        partial.close()
    assert out == [pytest.approx(0.75), 1.0]


def test_infra_failure_is_none_and_the_rest_scores(execution):
    broken = dict(ROW, task_id="t/broken", test="", cases=[])  # the grader cannot judge a task without tests
    out, metrics = call(execution, ["    return (x + 3) * 2\n"] * 2, rows=[ROW, broken])
    assert out == [1.0, None]
    assert metrics["infra_errors"] == 1.0


def test_batch_of_only_infra_failures_raises(execution):
    broken = dict(ROW, task_id="t/broken", test="", cases=[])
    with pytest.raises(RewardInfraError, match="all 2 samples"):
        call(execution, ["    return 1\n"] * 2, rows=[broken, broken])


HACKS = {
    "early_exit_status_0": "    import sys; sys.exit(0)\n",
    "os_exit_0": "    import os; os._exit(0)\n",
    "fake_success_output": "    print('4 passed'); print('PASS'); print('PLDONE 1')\n    return None\n",
    "always_equal_object": ("    class A:\n        def __eq__(self, o): return True\n"
                            "        def __ne__(self, o): return False\n    return A()\n"),
    "redefine_check_helper": "    return 0\n\ndef check(candidate):\n    pass\n",
    "patch_assert_builtins": ("    import builtins; builtins.AssertionError = type('E', (Exception,), {})\n"
                              "    return 0\n"),
    "kill_parent_process": "    import os, signal; os.kill(os.getppid(), signal.SIGKILL)\n",
    "raise_systemexit_at_import": "    return 0\nraise SystemExit(0)\n",
}


@pytest.mark.parametrize("name", sorted(HACKS))
def test_reward_hack_scores_zero(name):
    reward = ExecutionReward(partial=True, backend="local")
    try:
        out, _ = call(reward, [HACKS[name], "    return (x + 3) * 2\n"], rows=[ROW, ROW])
    finally:
        reward.close()
    assert out[0] == 0.0, f"{name} earned {out[0]}"
    assert out[1] == 1.0  # the honest sample in the same batch still scores


def test_format_reward_completion_and_chat():
    fr = FormatReward(prompt_format="completion")
    out, _ = call(fr, ["    return x\n", "    return (x +\n", ""])
    assert out == [1.0, 0.0, 0.0]
    chat = FormatReward(prompt_format="chat")
    msgs = [[{"role": "assistant", "content": "```python\ndef calc(x):\n    return x\n```"}],
            [{"role": "assistant", "content": "def calc(x): return x"}]]
    rows = grpo_rows([ROW, ROW], "chat")
    cols = {k: [r[k] for r in rows] for k in rows[0] if k != "prompt"}
    assert chat([r["prompt"] for r in rows], msgs, **cols) == [1.0, 0.0]


def test_weighted_reward_sums_and_keeps_none(execution):
    w = WeightedReward([(execution, 1.0), (FormatReward(), 0.5)])
    broken = dict(ROW, task_id="t/broken", test="", cases=[])
    out, _ = call(w, ["    return (x + 3) * 2\n", "    return x\n", "    return 1\n"], rows=[ROW, ROW, broken])
    assert out == [1.5, 0.5, None]


def test_rewards_pickle_without_their_sandbox(execution):
    call(execution, ["    return x\n"])  # opens the reused sandbox
    clone = pickle.loads(pickle.dumps(WeightedReward([(execution, 1.0)])))
    try:
        out, _ = call(clone, ["    return (x + 3) * 2\n"])
    finally:
        clone.close()
    assert out == [1.0]
