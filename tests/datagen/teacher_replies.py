"""Teacher replies for the plumbing tests: good ones and each normal way of being bad."""

from __future__ import annotations

FENCE = "```"


def good(name: str = "double_all", factor: int = 2) -> str:
    return f"""### Problem
Write {name}(xs) that multiplies every number of the list xs by {factor}.

### Solution
{FENCE}python
def {name}(xs):
    \"\"\"Multiply every number of xs by {factor}.\"\"\"
    return [x * {factor} for x in xs]
{FENCE}

### Tests
{FENCE}python
def check(candidate):
    assert candidate([1, 2]) == [{factor}, {2 * factor}]
    assert candidate([]) == []
    assert candidate([0]) == [0]
{FENCE}
"""


def bare_asserts(name: str = "count_a") -> str:
    return f"""Count the letter a in a string.

{FENCE}python
def {name}(s):
    return s.count("a")
{FENCE}

{FENCE}python
assert {name}("banana") == 3
assert {name}("") == 0
{FENCE}
"""


NO_CODE = "I would write a function that doubles numbers, using a list comprehension."
UNPARSABLE = f"""### Problem
Broken.

### Solution
{FENCE}python
def broken(xs:
    return xs
{FENCE}

### Tests
{FENCE}python
def check(candidate):
    assert candidate([1]) == [1]
{FENCE}
"""
WRONG = good("triple_all", 3).replace("x * 3 for", "x * 4 for")
LOOP = good("spin", 2).replace("return [x * 2 for x in xs]", "while True:\n        pass")
NO_TESTS = f"""### Problem
Add one.

### Solution
{FENCE}python
def add_one(x):
    return x + 1
{FENCE}
"""
