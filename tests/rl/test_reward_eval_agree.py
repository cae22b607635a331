"""The RL reward and `eval func` give every answer the same verdict: one extraction, one grader.

The table is what models really send back to a HumanEval-style prompt: bodies (base models),
whole functions in a ```python block with imports, helpers, example usage and prose around
them (instruct models such as Qwen2.5-Coder-Instruct), and answers holding no code at all.
Both sides run for real in a local sandbox; eval grades both the raw text and the completion
`eval func --model` stores for it.
"""

from __future__ import annotations

import json

import pytest

from patchloop.evals.extract import completion_text, extract_completion
from patchloop.evals.func.evaluate import evaluate_function_samples
from patchloop.rl.data import grpo_rows
from patchloop.rl.rewards import ExecutionReward
from patchloop.types import FunctionTask

PROMPT = ('from typing import List\n\n\ndef below_zero(operations: List[int]) -> bool:\n'
          '    """True if the running balance, starting at zero, ever drops below zero."""\n')
TEST = ("def check(candidate):\n    assert candidate([]) is False\n    assert candidate([1, 2, -4, 5]) is True\n"
        "    assert candidate([1, 2, -3]) is False\n    assert candidate([-1]) is True\n")
TASK = FunctionTask("HumanEval/3", PROMPT, "below_zero", TEST)
BODY = "    balance = 0\n    for op in operations:\n        balance += op\n        if balance < 0:\n            return True\n    return False\n"
WHOLE = "def below_zero(operations: List[int]) -> bool:\n" + BODY
FENCED = f"```python\nfrom typing import List\n\n{WHOLE}```"

TABLE = {  # name: (answer, passes)
    "bare_body": (BODY, True),
    "body_followed_by_prose": ("    return sum(operations) < 0 or any(sum(operations[:i]) < 0 for i in range(len(operations)))\n"
                               "The answer checks every prefix sum.", True),
    "issue_example_body_then_prose": (BODY + "The answer is the balance check.", True),
    "body_then_helper_defined_after": ("    return _dips(operations)\n\n\ndef _dips(ops):\n" + BODY.replace("operations", "ops"), True),
    "fenced_whole_function": (f"Here is the function:\n\n{FENCED}\n", True),
    "fenced_with_prose_after": (f"{FENCED}\n\nThis keeps a running balance and returns True as soon as it drops "
                                "below zero; otherwise False.", True),
    "fenced_with_imports_helper_and_example_usage": (
        "```python\nimport itertools\nfrom typing import List\n\n\ndef _prefix_sums(xs):\n"
        "    return list(itertools.accumulate(xs))\n\n\ndef below_zero(operations: List[int]) -> bool:\n"
        "    return any(s < 0 for s in _prefix_sums(operations))\n\n\n# Example usage\n"
        "print(below_zero([1, 2, -4, 5]))  # True\n```\n", True),
    "whole_function_unfenced_with_prose_around": (f"Sure! Here's the solution:\n{WHOLE}\nIt runs in O(n).", True),
    "several_blocks_helper_then_function_then_usage": (
        "First a helper:\n```python\ndef _dips(ops):\n" + BODY.replace("operations", "ops")
        + "```\nThen the function:\n```python\ndef below_zero(operations):\n    return _dips(operations)\n```\n"
        "Usage:\n```python\nassert below_zero([-1])\n```", True),
    "shell_block_then_python_block": ("```bash\npython solution.py\n```\n" + FENCED, True),
    "flush_left_body_in_a_block": ("```python\n" + "\n".join(line[4:] for line in BODY.splitlines()) + "\n```", True),
    "unterminated_block_cut_after_the_function": ("```python\n" + WHOLE, True),
    "chat_message_list": ([{"role": "assistant", "content": FENCED}], True),
    "wrong_function_in_a_block": ("```python\ndef below_zero(operations):\n    return sum(operations) < 0\n```", False),
    "block_cut_inside_the_function": ("```python\ndef below_zero(operations):\n    balance = 0\n    for op in", False),
    "failing_example_assert_in_the_block": (FENCED.replace("```", "") + "\nassert below_zero([1]) is True\n", False),
    "prose_only": ("I would keep a running balance and return True once it drops below zero.", False),
    "empty": ("", False),
    "not_text": (None, False),
    "number": (42, False),
}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    names = sorted(TABLE)
    answers = [TABLE[n][0] for n in names]
    rows = grpo_rows([{"task_id": TASK.task_id, "prompt": PROMPT, "entry_point": TASK.entry_point, "test": TEST}]
                     * len(names), "chat")
    cols = {k: [r[k] for r in rows] for k in rows[0] if k != "prompt"}
    reward = ExecutionReward(prompt_format="chat", backend="local")
    try:
        rewards = reward([r["prompt"] for r in rows], answers, **cols)
    finally:
        reward.close()
    # eval func: the raw text, and what `eval func --model` stores as the completion for it
    texts = [completion_text(a) for a in answers]
    samples = [{"task_id": TASK.task_id, "completion": t} for t in texts]
    samples += [{"task_id": TASK.task_id, "completion": extract_completion(t, prompt=PROMPT, entry_point="below_zero")}
                for t in texts]
    samples.append({"task_id": TASK.task_id, "completion": None})  # not text at all: refused, one line
    out = tmp_path_factory.mktemp("ev")
    errors = []
    evaluate_function_samples({TASK.task_id: TASK}, samples, out_dir=out, backend="local", ks=(1,),
                              on_error=errors.append)
    results = {int(r["key"].split(":")[0]): r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    n = len(names)
    return {name: (rewards[i], results[i]["passed"], results[n + i]["passed"]) for i, name in enumerate(names)}, errors


@pytest.mark.parametrize("name", sorted(TABLE))
def test_reward_and_eval_agree(verdicts, name):
    reward, eval_raw, eval_stored = verdicts[0][name]
    passes = TABLE[name][1]
    assert reward == float(passes), f"reward {reward} for {name}"
    assert eval_raw is passes and eval_stored is passes, f"eval raw {eval_raw}, stored {eval_stored} for {name}"


def test_a_sample_that_is_not_text_is_reported_and_not_credited(verdicts):
    assert any("no completion or solution string" in str(e) for e in verdicts[1])
