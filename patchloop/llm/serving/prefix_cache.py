"""Reuse the KV cache of a conversation's unchanged prefix between turns.

An agent turn re-sends the whole conversation: system prompt, repo map, every earlier call
and observation. Without reuse each turn prefills all of it again, so turn k costs the whole
history. The cache a generation leaves behind holds the keys and values of the prompt and of
the reply just sampled; the next turn's prompt starts with exactly those tokens whenever the
chat template renders the history the same way, so only the new tokens (the tool output and
the next generation prompt) need a forward pass. The match is on token ids, never on text,
so a template that renders history differently simply reuses less.

A few caches are kept (least recently used dropped), one per conversation in flight. A cache
is taken out while a generation extends it and put back after, so two generations never
share one.
"""

from __future__ import annotations

import threading
from typing import Any

MIN_REUSE = 16  # below this a hit saves less than the bookkeeping costs


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """LRU of ``(token ids, KV cache)``; ``take`` hands out the best match cropped to fit."""

    def __init__(self, slots: int = 4):
        self.slots = max(0, int(slots))
        self._entries: list[tuple[list[int], Any]] = []
        self._lock = threading.Lock()
        self.hits = self.reused_tokens = 0

    def take(self, prompt: list[int]) -> tuple[Any | None, int]:
        """(a cache holding the first n tokens of ``prompt``, n), or (None, 0). n < len(prompt)."""
        with self._lock:
            best, best_len = -1, 0
            for i, (ids, _) in enumerate(self._entries):
                n = common_prefix(ids, prompt)
                if n > best_len:
                    best, best_len = i, n
            if best < 0 or best_len < MIN_REUSE:
                return None, 0
            _, cache = self._entries.pop(best)
        keep = min(best_len, len(prompt) - 1)  # the model must see at least one new token
        have = cache.get_seq_length()
        if keep < have:
            cache.crop(keep - have)  # a negative count removes tokens from the end
        self.hits += 1
        self.reused_tokens += keep
        return cache, keep

    def put(self, sequence: list[int], cache: Any) -> None:
        """Keep ``cache``, which holds the keys and values of ``sequence[:cache length]``."""
        if not self.slots or cache is None:
            return
        ids = list(sequence[: cache.get_seq_length()])
        with self._lock:
            self._entries.insert(0, (ids, cache))
            del self._entries[self.slots:]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
