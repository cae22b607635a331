"""Parse Hermes/Qwen ``<tool_call>{json}</tool_call>`` blocks out of model text.

A small or half-trained model writes broken tool calls all the time: unclosed tags, bad
JSON, a list where an object belongs, tags inside tags, megabytes of junk. None of that may
end an agent run, so :func:`parse_tool_calls` never raises. It splits the text into plain
content, well-formed LangChain ``ToolCall`` s and ``InvalidToolCall`` s whose ``error`` is
written for the model to read and correct on its next turn.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages.tool import InvalidToolCall, ToolCall, invalid_tool_call, tool_call

OPEN, CLOSE = "<tool_call>", "</tool_call>"
MAX_CALL_CHARS = 200_000  # one call's JSON; beyond this it is junk, not arguments
MAX_CALLS = 64  # a runaway model repeating calls gets the first 64 and one error
_SHOWN = 300  # how much of a bad call is echoed back in the error
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_FORMAT_HINT = 'Write each call as <tool_call>\n{"name": "<tool>", "arguments": {...}}\n</tool_call>.'


@dataclass
class ParsedOutput:
    """Model text split into what it said and what it asked to run."""

    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    invalid_tool_calls: list[InvalidToolCall] = field(default_factory=list)
    invalid_text: list[str] = field(default_factory=list)
    """The raw text of each invalid call, tags included, for servers that hand it back as content."""


def held_back(text: str) -> int:
    """Length of a tail of ``text`` that could be the start of a ``<tool_call>`` tag: what a
    streamer must not emit as content yet."""
    for k in range(min(len(OPEN) - 1, len(text)), 0, -1):
        if OPEN.startswith(text[-k:]):
            return k
    return 0


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def format_tool_call(name: str, arguments: dict[str, Any]) -> str:
    """The exact text the chat template renders for one call (used to build training data)."""
    return f'{OPEN}\n{{"name": {json.dumps(name)}, "arguments": {json.dumps(arguments)}}}\n{CLOSE}'


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + f"... [{len(text) - _SHOWN} more chars]"


def _reject_constant(name: str):
    # NaN/Infinity are not JSON; letting them through would break every OpenAI client downstream.
    raise ValueError(f"{name} is not allowed in JSON")


def _decode_call(body: str, tool_names: Collection[str] | None) -> tuple[str | None, dict | None, str | None]:
    """Return ``(name, args, error)``; exactly one of ``args``/``error`` is set."""
    if len(body) > MAX_CALL_CHARS:
        return None, None, f"tool call is {len(body)} characters long (limit {MAX_CALL_CHARS})"
    text = _FENCE.sub("", body.strip())
    try:
        obj = json.loads(text, strict=False, parse_constant=_reject_constant)  # raw newlines in code strings
    except (ValueError, RecursionError) as e:  # RecursionError: absurdly nested JSON
        msg = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
        return None, None, f"tool call is not valid JSON ({msg})"
    if not isinstance(obj, dict):
        return None, None, f"tool call must be a JSON object, got {type(obj).__name__}"
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, None, 'tool call has no "name" string'
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):  # OpenAI style: arguments as a JSON string
        try:
            args = json.loads(args, parse_constant=_reject_constant) if args.strip() else {}
        except (ValueError, RecursionError):
            return name, None, f'"arguments" of {name!r} is a string that is not valid JSON'
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return name, None, f'"arguments" of {name!r} must be a JSON object, got {type(args).__name__}'
    if tool_names is not None and name not in tool_names:
        known = ", ".join(sorted(tool_names)) or "none"
        return name, None, f"unknown tool {name!r}; available tools: {known}"
    return name, args, None


def parse_tool_calls(text: Any, tool_names: Collection[str] | None = None) -> ParsedOutput:
    """Split ``text`` into content, valid calls and invalid calls. Never raises.

    ``tool_names``, when given, turns calls to tools that do not exist into invalid calls,
    so the model hears about the typo instead of the agent crashing on it.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    content: list[str] = []
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    invalid_text: list[str] = []
    pos, n = 0, 0
    while True:
        start = text.find(OPEN, pos)
        if start < 0:
            content.append(text[pos:])
            break
        content.append(text[pos:start])
        body_start = start + len(OPEN)
        close = text.find(CLOSE, body_start)
        reopen = text.find(OPEN, body_start)
        if reopen >= 0 and (close < 0 or reopen < close):
            body, pos, problem = text[body_start:reopen], reopen, f"{OPEN} opened again before {CLOSE}"
        elif close < 0:
            # Often the closing tag was a stop sequence and got cut: accept the call if it parses.
            body, pos, problem = text[body_start:], len(text), f"{OPEN} is never closed"
        else:
            body, pos, problem = text[body_start:close], close + len(CLOSE), None
        n += 1
        if n > MAX_CALLS:
            if n == MAX_CALLS + 1:
                invalid.append(invalid_tool_call(name=None, args=None, id=new_call_id(),
                                                 error=f"more than {MAX_CALLS} tool calls in one reply; the rest were ignored"))
            continue
        name, args, error = _decode_call(body, tool_names)
        if error is None:  # a missing close tag alone is forgiven: the call itself is complete
            valid.append(tool_call(name=name, args=args, id=new_call_id()))
            continue
        reason = "; ".join(x for x in (problem, error) if x)
        invalid_text.append(text[start:pos])
        invalid.append(
            invalid_tool_call(name=name, args=_short(body), id=new_call_id(),
                              error=f"tool call {n}: {reason}. {_FORMAT_HINT}")
        )
    return ParsedOutput("".join(content).strip(), valid, invalid, invalid_text)
