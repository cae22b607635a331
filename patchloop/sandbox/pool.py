"""A bounded pool of warm sandboxes, so a thousand short tasks do not pay a thousand starts.

Starting a container costs hundreds of milliseconds; resetting a warm one to its base
commit (``Sandbox.reset``: kill leftover processes, ``git reset --hard``, ``git clean``)
costs a few. The pool hands out sandboxes per key (usually the image a task needs), resets
each one when it comes back, and throws away one whose reset fails, so the next task gets
a fresh sandbox in its place. Works with any ``Sandbox`` backend.

What it does not do: make a reset stronger than the backend's ``reset()``. Both backends
keep only the workspace and /tmp writable and reset both to the base commit's tree, and put
back git's own files (config, hooks, ``info/exclude``, refs, alternates) from a snapshot
taken when the sandbox was made, so a task cannot plant a ``core.fsmonitor`` command or an
exclude rule for the next one. Whatever else a reset leaves is seen by the next task on that
sandbox; tasks that must not share even that should take fresh sandboxes.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self

from patchloop.sandbox.base import Sandbox, SandboxError

log = logging.getLogger(__name__)


@dataclass
class PoolStats:
    """Counts for logs and benchmarks: how often the pool saved a start."""

    created: int = 0
    reused: int = 0
    discarded: int = 0
    evicted: int = 0


class SandboxPool:
    """Up to ``size`` live sandboxes per key; ``acquire()`` blocks when all of a key's are busy.

    ``factory()`` (or ``factory(key)`` when ``acquire`` is given a key) makes a new sandbox.
    Thread-safe. ``close()`` closes idle sandboxes at once and busy ones when they come back.
    ``max_idle`` bounds the idle sandboxes over all keys: past it, one of the key returned to
    least recently is closed (a run that moves from task to task keeps only the warm ones it
    may still use, not one container per task it has finished).
    """

    def __init__(self, factory: Callable[..., Sandbox], size: int, *, wait_s: float | None = None,
                 max_idle: int | None = None):
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self.factory = factory
        self.size = size
        self.wait_s = wait_s
        self.max_idle = max_idle
        self._returns = 0
        self._last_return: dict[Hashable, int] = {}
        self.stats = PoolStats()
        self._idle: dict[Hashable, list[Sandbox]] = defaultdict(list)
        self._live: dict[Hashable, int] = defaultdict(int)
        self._cond = threading.Condition()
        self._closed = False

    # -------------------------------------------------------------- public API

    @contextmanager
    def acquire(self, key: Hashable = None) -> Iterator[Sandbox]:
        """Lend a clean sandbox for ``key``; it goes back (reset) when the block exits."""
        sandbox = self._take(key)
        try:
            yield sandbox
        finally:
            self._give_back(key, sandbox)

    def idle(self, key: Hashable = None) -> int:
        """How many warm sandboxes of ``key`` wait to be handed out."""
        with self._cond:
            return len(self._idle[key])

    def live(self, key: Hashable = None) -> int:
        """How many sandboxes of ``key`` exist (idle or lent out)."""
        with self._cond:
            return self._live[key]

    def close(self) -> None:
        """Close every idle sandbox now; lent-out ones are closed when they come back."""
        with self._cond:
            self._closed = True
            victims = [sb for sbs in self._idle.values() for sb in sbs]
            for key, sbs in self._idle.items():
                self._live[key] -= len(sbs)
            self._idle.clear()
            self._cond.notify_all()
        for sb in victims:
            _close_quietly(sb)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- internals

    def _take(self, key: Hashable) -> Sandbox:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self._closed or self._idle[key] or self._live[key] < self.size, timeout=self.wait_s
            )
            if self._closed:
                raise SandboxError(str(key or "pool"), "the sandbox pool is closed")
            if not ok:
                raise SandboxError(str(key or "pool"), f"no sandbox free after {self.wait_s}s (pool size {self.size})")
            if self._idle[key]:
                self.stats.reused += 1
                return self._idle[key].pop()  # most recently used: its caches are warmest
            self._live[key] += 1  # reserve the slot before the slow start, outside the lock
        try:
            sandbox = self.factory() if key is None else self.factory(key)
        except BaseException:
            with self._cond:
                self._live[key] -= 1
                self._cond.notify()
            raise
        with self._cond:
            self.stats.created += 1
        return sandbox

    def _give_back(self, key: Hashable, sandbox: Sandbox) -> None:
        # Reset on return, not on the next acquire, so a daemon a task left behind is killed
        # now rather than burning CPU while the sandbox waits.
        healthy = not self._closed and _reset_ok(sandbox)
        victim = None
        with self._cond:
            kept = healthy and not self._closed
            if kept:
                self._idle[key].append(sandbox)
                self._returns += 1
                self._last_return[key] = self._returns
                victim = self._evict(keep=key)
            else:
                self._live[key] -= 1
                if not self._closed:
                    self.stats.discarded += 1
            self._cond.notify()
        # closing happens outside the lock: stopping a container takes a while
        if not kept:
            _close_quietly(sandbox)
        elif victim is not None:
            _close_quietly(victim)

    def _evict(self, keep: Hashable) -> Sandbox | None:
        """Under the lock: take one idle sandbox out when there are more than ``max_idle``,
        from another key than ``keep`` where one has any, the least recently returned first."""
        idle = [k for k, sbs in self._idle.items() if sbs]
        if self.max_idle is None or sum(len(self._idle[k]) for k in idle) <= self.max_idle:
            return None
        key = min(idle, key=lambda k: (k == keep, self._last_return.get(k, 0)))
        self._live[key] -= 1
        self.stats.evicted += 1
        return self._idle[key].pop(0)


def _reset_ok(sandbox: Sandbox) -> bool:
    try:
        sandbox.reset()
        return True
    except Exception as e:  # noqa: BLE001 -- any failure means the same: do not reuse it
        # A sandbox that cannot be reset (container died, reset timed out) is not trusted
        # with the next task: it is discarded and a fresh one takes its place.
        log.info("sandbox %s not reused, reset failed: %s", getattr(sandbox, "task_id", "?"), e)
        return False


def _close_quietly(sandbox: Any) -> None:
    try:
        sandbox.close()
    except Exception as e:  # noqa: BLE001 -- best effort; `patchloop sandbox gc` removes leftovers
        log.warning("closing sandbox %s failed: %s", getattr(sandbox, "task_id", "?"), e)
