"""The one extraction every verdict goes through: what code an answer holds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchloop.evals.extract import build_program, extract_completion, python_blocks
from patchloop.evals.prompts import CHAT_VERSION, model_prompt, prompt_record
from patchloop.types import FunctionTask

PROMPT = 'def inc(x):\n    """Return x plus 1."""\n'
TASK = FunctionTask("t/inc", PROMPT, "inc")


@pytest.mark.parametrize(("answer", "code"), [
    ("    return x + 1\n", "    return x + 1\n"),
    ("    return x + 1\nThe answer is x plus one", "    return x + 1\n"),
    ("    return h(x)\n\ndef h(x):\n    return x + 1\n", "    return h(x)\n\ndef h(x):\n    return x + 1\n"),
    ("```python\ndef inc(x):\n    return x + 1\n```\nDone.", "def inc(x):\n    return x + 1\n"),
    ("```py\nreturn x + 1\n```", "    return x + 1\n"),
    ("Here:\ndef inc(x):\n    return x + 1\n\nIt adds one.", "def inc(x):\n    return x + 1\n\n"),
    ("```text\ndef inc(x): return 0\n```\n```\ndef inc(x):\n    return x + 1\n```", "def inc(x):\n    return x + 1\n"),
    ("```python\nimport math\n```\n```python\ndef inc(x):\n    return x + 1\n```\n```python\nprint(inc(1))\n```",
     "import math\n\ndef inc(x):\n    return x + 1\n"),
    (None, ""),
    ([{"role": "assistant", "content": "    return x + 1\n"}], "    return x + 1\n"),
])
def test_the_code_an_answer_holds(answer, code):
    assert extract_completion(answer, prompt=PROMPT, entry_point="inc") == code


def test_a_body_goes_after_the_prompt_and_a_whole_function_after_it_too():
    assert build_program(TASK, "    return x + 1\n") == PROMPT + "    return x + 1\n"
    assert build_program(TASK, "def inc(x):\n    return x + 1\n") == PROMPT + "\n\ndef inc(x):\n    return x + 1\n"


def test_only_python_blocks_count():
    assert python_blocks("```bash\nls\n```\n```Python\nx = 1\n```\n```json\n{}\n```\n```\ny = 2") == ["x = 1\n", "y = 2"]


PIECES = st.sampled_from(["    return x + 1\n", "def inc(x):\n", "```python\n", "```\n", "```bash\n", "prose here.\n",
                          "\n", "import os\n", "print(inc(1))\n", "    if x:\n", "return x\n", "def h():\n    pass\n",
                          "\x00", '"""\n', "(\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=10).map("".join))
def test_extraction_of_its_own_output_changes_nothing(text):
    once = extract_completion(text, prompt=PROMPT, entry_point="inc")
    assert extract_completion(once, prompt=PROMPT, entry_point="inc") == once


def test_prompts_carry_a_version_and_refuse_unknown_formats():
    assert prompt_record("chat")["version"] == CHAT_VERSION
    assert "```python\n" + PROMPT + "```" in model_prompt(PROMPT, "chat")[0]["content"]
    assert model_prompt(PROMPT, "completion") == PROMPT
    with pytest.raises(ValueError, match="unknown prompt format"):
        model_prompt(PROMPT, "yaml")
