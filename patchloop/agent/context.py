"""What the model sees: prompts from versioned templates, capped observations, and a
conversation shortened to fit the context window (older observations first)."""

from __future__ import annotations

from importlib.resources import files
from string import Template

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage

from patchloop.sandbox.base import cap_text

KEEP_RECENT = 4  # the latest messages are never shortened: they are the current state
SHORT_CHARS = 300  # what an old observation is cut to


def prompt(version: str, name: str, **values: object) -> str:
    """Render ``prompts/<version>/<name>.md``; unknown ``$names`` are an error, not a blank."""
    text = (files("patchloop.agent") / "prompts" / version / f"{name}.md").read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()}).strip()


def cap_observation(text: str, limit: int) -> str:
    """Head and tail of a long tool result, with the cut marked."""
    return cap_text(text, limit)[0] if len(text) > limit else text


def approx_tokens(msg: AnyMessage) -> int:
    """A cheap, deliberately high token estimate (3 characters a token; code BPEs average
    3.5-4) that needs no tokenizer: overestimating only shortens old output sooner."""
    n = len(msg.content) if isinstance(msg.content, str) else len(str(msg.content))
    if isinstance(msg, AIMessage):
        n += sum(len(str(tc.get("args", ""))) + 20 for tc in msg.tool_calls)
    return n // 3 + 4


def fit_context(messages: list[AnyMessage], context_tokens: int, reserve: int = 1024) -> list[AnyMessage]:
    """Shorten the oldest observations (then old model text) until the conversation fits.

    The system prompt, the task and the latest ``KEEP_RECENT`` messages stay whole; the
    state keeps every message in full, only the copy sent to the model is shortened.
    """
    budget = context_tokens - reserve
    out = list(messages)
    total = sum(approx_tokens(m) for m in out)
    for kinds in ((ToolMessage,), (AIMessage,)):
        for i in range(2, max(2, len(out) - KEEP_RECENT)):
            if total <= budget:
                return out
            m = out[i]
            if isinstance(m, kinds) and isinstance(m.content, str) and len(m.content) > SHORT_CHARS:
                short = cap_text(m.content, SHORT_CHARS)[0] + "\n[older output shortened to fit the context]"
                total -= approx_tokens(m)
                out[i] = m.model_copy(update={"content": short})
                total += approx_tokens(out[i])
    return out
