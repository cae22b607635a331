"""Head+tail output capping for the command runner (``runner/server.py``) and the host.

Standard library only: this module is part of the runner, which ships into containers, and the
host (``patchloop.sandbox.base.cap_text``) caps collected strings with the same class, so a log
is cut the same way wherever it was captured.
"""

from __future__ import annotations

ELIDED = "\n[... {n} bytes elided by patchloop ...]\n"


class OutputCap:
    """Keeps the first and last ``limit/2`` bytes of a stream of any length.

    Gigabytes of output cost O(limit) memory; ``text()`` marks the cut so neither a model
    nor a user mistakes a capped log for a complete one.
    """

    def __init__(self, limit: int):
        self.limit = max(limit, 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        half = self.limit // 2
        room = half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        if len(self.tail) > self.limit - half:
            cut = len(self.tail) - (self.limit - half)
            self.dropped += cut
            del self.tail[:cut]

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if not self.dropped:
            return head + tail
        return head + ELIDED.format(n=self.dropped) + tail
