"""The engines' stop rule and the grader agree: once ``answer_settled`` holds on a prefix,
no continuation changes what ``extract_completion`` grades, and it holds no earlier than that."""

from __future__ import annotations

import pytest

from patchloop.evals.extract import answer_settled, extract_completion

PROMPT = 'def add(a, b):\n    """Sum."""\n'
FUNC = "```python\ndef add(a, b):\n    return a + b\n```"
HELPER = "```python\ndef _twice(x):\n    return 2 * x\n```"
USES_HELPER = "```python\ndef add(a, b):\n    return _twice(a) // 2 + b\n```"

# (answer, the shortest prefix that settles it, or None when nothing before the end does)
TABLE = [
    ("Here it is:\n" + FUNC + "\n\nThis adds two numbers.", "Here it is:\n" + FUNC),
    (FUNC + "\n```python\ndef add(a, b):\n    return 0\n```", FUNC),            # a later block is never read
    ("Helper first:\n" + HELPER + "\nthen:\n" + USES_HELPER + "\nDone.",         # helper kept with the function
     "Helper first:\n" + HELPER + "\nthen:\n" + USES_HELPER),
    ("```bash\necho hi\n```\n" + FUNC + " bye", "```bash\necho hi\n```\n" + FUNC),  # other languages skipped
    ("    return a + b\n", None),                                                 # a body never settles
    ("```python\n    return a + b\n```\nmore", None),                             # no block defines add
]


@pytest.mark.parametrize("answer,settles_at", TABLE)
def test_the_rule_settles_exactly_where_the_grade_stops_changing(answer, settles_at):
    final = extract_completion(answer, prompt=PROMPT, entry_point="add")
    first = next((i for i in range(1, len(answer) + 1) if answer_settled(answer[:i], "add")), None)
    if settles_at is None:
        assert first is None
        return
    assert answer[:first] == settles_at
    assert extract_completion(answer[:first], prompt=PROMPT, entry_point="add") == final


def test_a_helper_block_alone_does_not_settle_the_answer():
    # The old chat stop ("first closed block") ended here and the grader saw no add().
    assert not answer_settled("Helper first:\n" + HELPER + "\nthen:\n", "add")
    assert extract_completion("Helper first:\n" + HELPER + "\nthen:\n" + USES_HELPER, prompt=PROMPT,
                              entry_point="add").count("def _twice") == 1


def test_without_an_entry_point_the_first_closed_block_settles():
    assert not answer_settled("```python\nx = 1\n", "")
    assert answer_settled("```python\nx = 1\n```", "")


# The repair reply's rule: (reply, the shortest prefix that settles it, or None)
REPAIR_TABLE = [
    ("Fixed:\n" + FUNC + "\nIt now adds.", "Fixed:\n" + FUNC),
    ("```python\nx = (\n```\n" + FUNC + " done", "```python\nx = (\n```\n" + FUNC),  # an unparsable block skipped
    ("```python\nCONST = 3\n```\n" + FUNC, "```python\nCONST = 3\n```\n" + FUNC),   # no function yet: goes on
    ("```python\ndef add(a, b):\n    return a +", None),                              # cut inside its block
]


@pytest.mark.parametrize("reply,settles_at", REPAIR_TABLE)
def test_the_repair_rule_settles_where_the_graded_function_stops_changing(reply, settles_at):
    from patchloop.evals.extract import function_reply, repair_settled

    first = next((i for i in range(1, len(reply) + 1) if repair_settled(reply[:i])), None)
    if settles_at is None:
        assert first is None and function_reply(reply).fault
        return
    assert reply[:first] == settles_at
    assert function_reply(reply[:first]) == function_reply(reply)
