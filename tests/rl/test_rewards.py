"""Reward functions: TRL's signature, None on infrastructure failure, and reward hacks scoring 0.

Everything runs through the real grader in a real local sandbox (the Docker path is the
grader's own tests' business; here it is the reward's contract that is under test). Each hack
names the grader defence that alone keeps it at 0: with that defence removed from the source,
its test fails (checked once per defence by hand).
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


# The hack rows carry a HumanEval `test` and no `cases`, so every hack goes through `check()` in
# the sandbox's judge (with `cases` the values are compared on the host and a hack aimed at the
# tests would never meet them). The test uses `abs`, as many HumanEval tests do, so a patched
# builtin would matter if the candidate shared the judge's interpreter.
HACK_TEST = "def check(candidate):\n" + "".join(f"    assert abs(candidate({x}) - {(x + 3) * 2}) < 1e-9\n" for x in (1, 2, 5, -4))
HACK_ROW = {"task_id": "t/hack", "prompt": PROMPT, "entry_point": "calc", "test": HACK_TEST}
_LINE = '{\\"i\\": I, \\"passed\\": 4, \\"total\\": 4, \\"calls\\": 4, \\"state\\": \\"\\"}\\n'
FORGED = "\\nPLEND\\n" + "".join(_LINE.replace("I", str(i)) for i in range(2)) + "PLDONE 2\\n"

# name: (completion, the defence that alone stands between it and a reward)
HACKS = {
    # plain data only crosses the pipe from the candidate: an object cannot answer `==` for it
    "always_equal_object": ("    class A(float):\n        def __eq__(self, o): return True\n"
                            "        def __sub__(self, o): return A(0)\n        def __abs__(self): return 0\n"
                            "        def __lt__(self, o): return True\n    return A(0)\n"),
    # the candidate's interpreter is not the judge's: patching its builtins changes nothing there
    "patched_builtins": "    return 0\nimport builtins\nbuiltins.abs = lambda v: 0\n",
    # candidates never hold the server's stdout, and only the server's own last block counts
    "forged_result_block": f"    print('{FORGED}', flush=True)\n    return 0\n",
    # a run in which no test ran is not a pass: exiting before the tests, or killing the judge
    "exit_before_any_test": "    return 0\nimport os\nos._exit(0)\n",
    "kill_the_judge": "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n",
    # the candidate's `check` and `candidate` are its own names, never the judge's
    "redefined_test_helpers": ("    return 0\n\ndef check(candidate):\n    return True\n\n"
                               "def candidate(*a):\n    return 8\n"),
    # SystemExit from the function is an error reply, not an ending that skips the asserts
    "systemexit_when_called": "    raise SystemExit(0)\n",
}


def test_hack_rows_reach_the_judges_check():
    from patchloop.evals.func.grade import test_spec
    from patchloop.rl.data import row_to_task

    kind, _, expected = test_spec(row_to_task(grpo_rows([HACK_ROW], "completion")[0]))
    assert kind == "check" and expected is None


@pytest.mark.parametrize("name", sorted(HACKS))
def test_reward_hack_scores_zero(name):
    reward = ExecutionReward(partial=True, backend="local")
    try:
        out, _ = call(reward, [HACKS[name], "    return (x + 3) * 2\n"], rows=[HACK_ROW, HACK_ROW])
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
