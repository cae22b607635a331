"""What the model sees: prompts from versioned templates, capped observations, and a
conversation shortened to fit the context window (older observations first)."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.resources import files
from string import Template

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage

from patchloop.sandbox.base import cap_text

KEEP_RECENT = 4  # the latest messages are never shortened: they are the current state
SHORT_CHARS = 300  # what an old observation is cut to
TINY_CHARS = 60  # ... and cut to once more when even that does not fit a small window
Counter = Callable[[AnyMessage], int]


def prompt(version: str, name: str, **values: object) -> str:
    """Render ``prompts/<version>/<name>.md``; unknown ``$names`` are an error, not a blank."""
    text = (files("patchloop.agent") / "prompts" / version / f"{name}.md").read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()}).strip()


def cap_observation(text: str, limit: int) -> str:
    """Head and tail of a long tool result, with the cut marked."""
    return cap_text(text, limit)[0] if len(text) > limit else text


def approx_tokens(msg: AnyMessage, count_text: Callable[[str], int] | None = None) -> int:
    """Tokens of one message: the model's tokenizer when ``count_text`` is given, else a cheap,
    deliberately high estimate (3 characters a token; code BPEs average 3.5-4): overestimating
    only shortens old output sooner. The 4 are the chat template's per-message framing."""
    text = msg.content if isinstance(msg.content, str) else str(msg.content)
    if isinstance(msg, AIMessage) and msg.tool_calls:
        text += "".join(json.dumps({"name": tc["name"], "arguments": tc.get("args", {})}) + " " * 20 for tc in msg.tool_calls)
    return (count_text(text) if count_text else len(text) // 3) + 4


def counter(count_text: Callable[[str], int] | None = None) -> Counter:
    """``approx_tokens`` with the model's tokenizer bound in (or the estimate)."""
    return lambda msg: approx_tokens(msg, count_text)


def fit_context(messages: list[AnyMessage], context_tokens: int, reserve: int = 1024,
                count: Counter = approx_tokens) -> list[AnyMessage]:
    """Shorten the oldest observations (then old model text) until the conversation fits.

    The system prompt, the task and the latest ``KEEP_RECENT`` messages stay whole; the
    state keeps every message in full, only the copy sent to the model is shortened. A small
    window gets a second, harder pass (old output cut to a line). A shortened copy carries no
    message id: it is not the message it was cut from, and a local model extends a turn's
    token ids only from a reply it sees unchanged (:mod:`patchloop.llm.serving.continuation`).
    """
    budget = context_tokens - reserve
    out = list(messages)
    total = sum(count(m) for m in out)
    for limit in (SHORT_CHARS, TINY_CHARS):
        for kinds in ((ToolMessage,), (AIMessage,)):
            for i in range(2, max(2, len(out) - KEEP_RECENT)):
                if total <= budget:
                    return out
                m = out[i]
                if isinstance(m, kinds) and isinstance(m.content, str) and len(m.content) > limit + 60:
                    short = cap_text(m.content, limit)[0] + "\n[older output shortened to fit the context]"
                    total -= count(m)
                    out[i] = m.model_copy(update={"content": short, "id": None})
                    total += count(out[i])
    return out
