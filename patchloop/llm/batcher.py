"""Dynamic batching for ``patchloop serve``: requests that wait together decode together.

One thread owns the model. It takes the oldest waiting request, waits a moment
(``gather_s``) for the requests that are arriving with it, and takes every waiting request
that can share its batch (same temperature and top-p; a seeded request samples from its own
generator, :mod:`patchloop.llm.row_sampling`), up to ``max_batch``,
and decodes them in one :func:`patchloop.llm.batched.generate_batch` call; requests that
arrive meanwhile wait for the next batch. A request alone takes the single-sequence path,
which reuses its conversation's KV prefix (:mod:`patchloop.llm.prefix_cache`), so an agent at
a terminal gets the fast path for one client and a batch of agents gets the throughput path.
The moment matters: clients whose replies came out of one batch send their next requests
within milliseconds of each other, and without it the first of them would start alone and the
rest would wait for its whole decode. This is not continuous batching (a new request does not join a batch already decoding); for
many users on a GPU, vLLM serves the same API.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from patchloop.llm.batched import BatchRequest


@dataclass
class _Job:
    prompt: list[int]
    settings: dict[str, Any]
    on_token: Any = None
    cancel: threading.Event | None = None
    future: Future = field(default_factory=Future)

    def key(self) -> tuple:
        """Jobs with equal keys may share a batch; a seed is the row's own (row_sampling)."""
        return (float(self.settings.get("temperature") or 0.0), float(self.settings.get("top_p") or 1.0))


class Batcher:
    def __init__(self, engine, max_batch: int = 8, gather_s: float = 0.05):
        # an engine without a batched path (llama.cpp here) takes its requests one at a time
        self.engine = engine
        self.max_batch = max(1, int(max_batch)) if hasattr(engine, "generate_batch") else 1
        self.gather_s = max(0.0, float(gather_s)) if self.max_batch > 1 else 0.0
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._held: list[_Job] = []  # taken from the queue but not batchable with the last group
        self.batches: list[int] = []  # size of every batch run, for tests and the benchmark
        self._thread = threading.Thread(target=self._loop, name="patchloop-model", daemon=True)
        self._thread.start()

    def submit(self, prompt: list[int], settings: dict[str, Any], on_token=None,
               cancel: threading.Event | None = None) -> Future:
        job = _Job(prompt, settings, on_token, cancel)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _next_group(self) -> list[_Job] | None:
        first = self._held.pop(0) if self._held else self._queue.get()
        if first is None:
            return None
        group, key = [first], first.key()
        waiting = self._held + self._gather()
        self._held = []
        for job in waiting:
            if job is None:
                self._queue.put(None)  # close after this group
            elif job.key() == key and len(group) < self.max_batch:
                group.append(job)
            else:
                self._held.append(job)
        return group

    def _gather(self) -> list[_Job | None]:
        """What is waiting, after giving requests in flight ``gather_s`` (from the last one that
        came) to arrive, until a full batch could be formed."""
        out = self._drain()
        if not self.gather_s:
            return out
        while sum(1 for j in out if j is not None) + 1 < self.max_batch and None not in out:
            try:
                out.append(self._queue.get(timeout=self.gather_s))
            except queue.Empty:
                break
        return out

    def _drain(self) -> list[_Job | None]:
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def _loop(self) -> None:
        while (group := self._next_group()) is not None:
            group = [j for j in group if j.future.set_running_or_notify_cancel()]
            if not group:
                continue
            self.batches.append(len(group))
            try:
                results = self._run(group)
            except Exception as e:  # noqa: BLE001 -- each waiting request gets the error, the worker lives on
                for j in group:
                    j.future.set_exception(e)
                continue
            for j, r in zip(group, results):
                j.future.set_result(r)

    def _run(self, group: list[_Job]) -> list:
        if len(group) == 1:
            j = group[0]
            return [self.engine.generate(j.prompt, on_token=j.on_token, cancel=j.cancel, **j.settings)]
        s = group[0].settings
        reqs = [BatchRequest(j.prompt, j.settings["max_new_tokens"], j.settings.get("stop"), j.on_token, j.cancel,
                             j.settings.get("seed")) for j in group]
        return self.engine.generate_batch(reqs, temperature=s.get("temperature", 0.7), top_p=s.get("top_p", 1.0))
