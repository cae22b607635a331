"""Teacher replies read as tasks: every normal way of being bad is a named drop."""

from __future__ import annotations

import pytest

from patchloop.datagen.instruct.parse import Drop, to_task
from tests.datagen import teacher_replies as R


@pytest.mark.parametrize("reply,reason", [
    (R.NO_CODE, "no_code_block"),
    (R.UNPARSABLE, "unparsable_solution"),
    (R.NO_TESTS, "no_tests"),
    ("```python\nprint('hi')\n```\n```python\nassert True\n```", "no_solution"),
    ("### Solution\n```python\ndef f(x):\n    return x\n```\n### Tests\n```python\ndef check(candidate):\n"
     "    assert candidate(1 == 1\n```", "unparsable_tests"),
    ("```python\ndef f(x):\n    return x\n```\n```python\ndef check(c):\n    assert True\n```", "no_tests"),
])
def test_bad_replies_are_named_drops(reply, reason):
    with pytest.raises(Drop) as e:
        to_task(reply, "t")
    assert e.value.reason == reason


def test_good_reply_is_split_the_humaneval_way():
    t = to_task(R.good(), "t1")
    assert t.entry_point == "double_all"
    assert t.prompt == 'def double_all(xs):\n    """Multiply every number of xs by 2."""\n'
    assert t.canonical_solution == "    return [x * 2 for x in xs]\n"
    assert t.test.startswith("def check(candidate):")
    assert t.extra["instruction"].startswith("Write double_all(xs)")


def test_bare_asserts_become_check_and_a_missing_docstring_is_the_problem_text():
    t = to_task(R.bare_asserts(), "t2")
    assert t.test == ('def check(candidate):\n    assert candidate("banana") == 3\n'
                      '    assert candidate("") == 0\n')
    assert '"""Count the letter a in a string."""' in t.prompt
    assert t.canonical_solution.strip() == "return s.count('a')"


def test_code_in_the_problem_is_not_taken_for_the_solution():
    reply = R.good().replace("### Solution", "Wrong attempt:\n```python\ndef double_all(xs):\n    return xs\n```\n\n"
                             "### Solution")
    t = to_task(reply, "t3")
    assert "x * 2" in t.canonical_solution and "Wrong attempt" in t.extra["instruction"]
