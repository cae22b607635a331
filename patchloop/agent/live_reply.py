"""A model reply, visibly alive while it is written.

A slow model took 279 s for one reply while the screen showed nothing. This callback
handler follows the reply token by token and keeps the spinner's text current: tokens so
far, tokens per second, seconds since the call began. Attached to the graph run, it reaches
the chat model inside the model node; being a streaming handler (LangChain's protocol: the
two ``tap_output_*`` methods) it makes a model that can stream (an OpenAI-compatible
endpoint) stream, and a local model reports each token it decodes (``hf.py``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler


class LiveReply(BaseCallbackHandler):
    """``show(text)`` with a live token count while each model reply is written; ``every``:
    the least seconds between two updates (the count at the end of a reply is shown anyway)."""

    def __init__(self, show: Callable[[str], None], *, every: float = 0.25, clock=time.monotonic):
        self.show, self.every, self.clock = show, every, clock
        self.tokens, self.started, self.first, self.shown = 0, 0.0, None, float("-inf")

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.tokens, self.started, self.first, self.shown = 0, self.clock(), None, float("-inf")

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        now = self.clock()
        self.tokens += 1
        if self.first is None:
            self.first = now
        if now - self.shown >= self.every:
            self.shown = now
            self.show(self.text(now))

    def text(self, now: float) -> str:
        rate = (self.tokens - 1) / (now - self.first) if self.first is not None and now > self.first else 0.0
        speed = f", {rate:.1f} tokens/s" if rate else ""
        return f"the model is writing: {self.tokens} token{'s' if self.tokens != 1 else ''}{speed}, {now - self.started:.0f}s"

    # LangChain's streaming-handler protocol: with these, a chat model that can stream does.
    def tap_output_iter(self, run_id: Any, output: Iterator) -> Iterator:
        return output

    def tap_output_aiter(self, run_id: Any, output: AsyncIterator) -> AsyncIterator:
        return output
