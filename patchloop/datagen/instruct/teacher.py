"""The teacher: any chat model, asked one prompt at a time, with its sampling settings fixed.

``ChatTeacher`` builds the model from the same ``--model`` specs as everywhere else
(``openai:NAME`` with a base URL, or ``hf:DIR``) through ``patchloop.llm``. Each sample gets its
own seed, derived from the item and the sample index, so a resumed run asks the same questions
with the same seeds. ``ScriptedTeacher`` answers from a function, for tests of the plumbing.
Every reply carries its token counts (reply, prompt, and prompt tokens the server had cached)
and time, for the teacher tokens/s a bench reports.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from patchloop.llm import LLMError, load_chat_model

__all__ = ["ChatTeacher", "LLMError", "Reply", "ScriptedTeacher", "Teacher", "sample_seed"]


@dataclass
class Reply:
    text: str
    tokens: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the server did not prefill again (its prefix cache)


class Teacher(Protocol):
    def describe(self) -> dict[str, Any]:
        """Everything about the teacher that decides its output (goes into the fingerprint)."""
        ...

    def ask(self, prompt: str, *, seed: int) -> Reply:
        """One reply to one user message; raises ``LLMError`` when the model cannot answer."""
        ...


def sample_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed for one sample, from the run's seed and what names the sample."""
    key = "/".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


class ChatTeacher:
    """A chat model behind a model spec, with fixed sampling settings."""

    def __init__(self, spec: str, *, base_url: str | None = None, temperature: float = 0.7,
                 top_p: float = 0.95, max_tokens: int = 1024, timeout: float = 600.0):
        self.spec, self.base_url = spec, base_url
        self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens
        self.model = load_chat_model(spec, base_url=base_url, timeout=timeout, temperature=temperature,
                                     top_p=top_p, max_tokens=max_tokens)

    def describe(self) -> dict[str, Any]:
        return {"model": self.spec, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens}

    def ask(self, prompt: str, *, seed: int) -> Reply:
        from langchain_core.messages import HumanMessage

        start = time.monotonic()
        msg = self.model.invoke([HumanMessage(prompt)], seed=seed)
        usage = getattr(msg, "usage_metadata", None) or {}
        text = msg.content if isinstance(msg.content, str) else str(msg.content)
        cached = (usage.get("input_token_details") or {}).get("cache_read")
        return Reply(text, int(usage.get("output_tokens") or 0), time.monotonic() - start,
                     int(usage.get("input_tokens") or 0), int(cached or 0))


class ScriptedTeacher:
    """Replies from ``answer(prompt, seed)``: a stand-in teacher for tests of the plumbing. An
    answer that is an exception is raised, as a failing endpoint would."""

    def __init__(self, answer: Callable[[str, int], str | Exception], name: str = "scripted"):
        self.answer, self.name, self.calls = answer, name, 0

    def describe(self) -> dict[str, Any]:
        return {"model": self.name}

    def ask(self, prompt: str, *, seed: int) -> Reply:
        self.calls += 1
        out = self.answer(prompt, seed)
        if isinstance(out, Exception):
            raise out
        return Reply(out, len(out.split()), 0.0)
