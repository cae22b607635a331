"""Batching for ``patchloop serve``: requests decode together.

One thread owns the model. On an engine that can keep a batch running (the transformers
engine, :mod:`patchloop.llm.serving.continuous`), that thread batches continuously: before every
decode step it admits the requests waiting, up to ``max_batch`` rows, and a row leaves the
step it finishes, whatever the others' settings and lengths. A request alone is the batch of
one, reusing its conversation's KV prefix (:mod:`patchloop.llm.serving.prefix_cache`) as the
single-sequence path does, so an agent at a terminal and a batch of agents take one path.

On an engine with only a whole-batch call (``generate_batch``), the thread takes the oldest
waiting request, waits a moment (``gather_s``) for the requests arriving with it, and decodes
every waiting request that can share its batch (same temperature and top-p; a seeded request
samples from its own generator, :mod:`patchloop.llm.serving.row_sampling`) in one call; requests
that arrive meanwhile wait for the next batch. The moment matters there: clients whose
replies came out of one batch send their next requests within milliseconds of each other,
and without it the first would start alone and the rest wait for its whole decode. An engine
with neither (llama.cpp here) takes its requests one at a time.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from patchloop.llm.serving.batched import BatchRequest


@dataclass
class _Job:
    prompt: list[int]
    settings: dict[str, Any]
    on_token: Any = None
    cancel: threading.Event | None = None
    future: Future = field(default_factory=Future)

    def request(self) -> BatchRequest:
        """This job as a row of a batch (the engine's own default reply limit where none is set)."""
        s = self.settings
        return BatchRequest(self.prompt, int(s.get("max_new_tokens", 256)), s.get("stop"), self.on_token, self.cancel,
                            s.get("seed"))

    def key(self) -> tuple:
        """Jobs with equal keys may share a batch; a seed is the row's own (row_sampling)."""
        return (float(self.settings.get("temperature") or 0.0), float(self.settings.get("top_p") or 1.0))


class Batcher:
    def __init__(self, engine, max_batch: int = 8, gather_s: float = 0.05, continuous: bool = True):
        """``continuous=False`` keeps the whole-batch path on an engine that could run either
        (the benchmark compares the two)."""
        # an engine without a batched path (llama.cpp here) takes its requests one at a time
        self.engine = engine
        self.max_batch = max(1, int(max_batch)) if hasattr(engine, "generate_batch") else 1
        self.gather_s = max(0.0, float(gather_s)) if self.max_batch > 1 else 0.0
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._held: list[_Job] = []  # taken from the queue but not batchable with the last group
        # whole batches: the size of each batch run; continuous: the rows decoding as each request joined
        self.batches: list[int] = []
        self.continuous = continuous and hasattr(engine, "running_batch") and self.max_batch > 1
        self.running = engine.running_batch() if self.continuous else None
        kept = getattr(engine, "prefix_cache", None)
        if self.continuous and kept is not None and kept.slots:  # room for each row's conversation
            kept.slots = max(kept.slots, self.max_batch)
        loop = self._continuous_loop if self.continuous else self._loop
        self._thread = threading.Thread(target=loop, name="patchloop-model", daemon=True)
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
        reqs = [j.request() for j in group]
        return self.engine.generate_batch(reqs, temperature=s.get("temperature", 0.7), top_p=s.get("top_p", 1.0))

    def _continuous_loop(self) -> None:
        batch, pending, closing = self.running, self._held, False
        while True:
            if not len(batch) and not pending:
                if closing:
                    return
                pending.append(self._queue.get())
            pending.extend(self._drain())
            if None in pending:  # close: what was sent before it still runs
                closing, pending[:] = True, pending[:pending.index(None)]
            while (pending and len(batch) < self.max_batch
                   and batch.fits(len(pending[0].prompt), pending[0].request().max_new_tokens)):
                self._admit(batch, pending.pop(0))
            try:
                finished = batch.step()
            except Exception as e:  # noqa: BLE001 -- each row in flight gets the error, the worker lives on
                for row in batch.fail():
                    row.owner.future.set_exception(e)
                continue
            for row in finished:
                row.owner.future.set_result(batch.result(row))

    def _admit(self, batch, job: _Job) -> None:
        """Start ``job`` in the running batch; a prompt it cannot take fails that job alone."""
        from patchloop.llm.serving.continuous import Row

        if not job.future.set_running_or_notify_cancel():
            return
        s = job.settings
        row = Row(job.request(), float(s.get("temperature") or 0.0), float(1.0 if s.get("top_p") is None else s["top_p"]),
                  job)
        self.batches.append(len(batch) + 1)  # rows decoding once it joins
        try:
            finished = batch.admit(row)
        except Exception as e:  # noqa: BLE001 -- a prompt too long, say: this request's error alone
            job.future.set_exception(e)
            return
        for done in finished:
            job.future.set_result(batch.result(done))
