"""The prompts a model is measured (and trained) with, versioned so a score says which it had.

Two formats: ``completion`` (the model continues the signature and docstring, as base and
tiny models do, and HumanEval was designed for) and ``chat`` (the task goes in one user
message asking for the whole function in one ```python block, as instruct models such as
Qwen2.5-Coder-Instruct expect; they answer with the function, often imports, sometimes prose
after it, which ``evals.extract`` copes with). Changing a template's text means a new version.
"""

from __future__ import annotations

from typing import Any

FORMATS = ("completion", "chat")
CHAT_VERSION = "chat-v1"
COMPLETION_VERSION = "completion-v1"
CHAT_INSTRUCTION = ("Complete the following Python function. Answer with the whole function "
                    "in one ```python code block.\n\n")
CHAT_TEMPLATE = CHAT_INSTRUCTION + "```python\n{prompt}```"


def model_prompt(task_prompt: str, fmt: str) -> Any:
    """What the model is given for a task: the prompt text, or a one-message chat."""
    if fmt == "chat":
        return [{"role": "user", "content": CHAT_TEMPLATE.format(prompt=task_prompt)}]
    if fmt == "completion":
        return task_prompt
    raise ValueError(f"unknown prompt format {fmt!r} ({', '.join(FORMATS)})")


def prompt_record(fmt: str) -> dict[str, str]:
    """Format, version and template text, for a run's summary."""
    if fmt == "chat":
        return {"format": fmt, "version": CHAT_VERSION, "template": CHAT_TEMPLATE}
    model_prompt("", fmt)  # refuses an unknown format
    return {"format": fmt, "version": COMPLETION_VERSION, "template": "{prompt}"}
