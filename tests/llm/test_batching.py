"""Batched decoding, KV-prefix reuse and serve's dynamic batching give the same tokens as the
plain one-at-a-time path, and really batch / really reuse (counted, not timed)."""

from __future__ import annotations

import threading
import time

import pytest

from patchloop.llm.serving.batched import BatchRequest
from patchloop.llm.serving.batcher import Batcher
from patchloop.llm.serving.local import Generation
from tests.llm.conftest import user_prompt

pytestmark = pytest.mark.train


def test_a_batch_gives_each_row_what_it_gets_alone(tiny_engine):
    prompts = [user_prompt(tiny_engine, t) for t in ("a", "a much longer request with many more tokens in it", "mid size")]
    limits = [5, 9, 2]
    alone = [tiny_engine.generate(p, max_new_tokens=n, temperature=0, reuse_prefix=False) for p, n in zip(prompts, limits)]
    batch = tiny_engine.generate_batch([BatchRequest(p, n) for p, n in zip(prompts, limits)], temperature=0)
    assert [g.token_ids for g in batch] == [g.token_ids for g in alone]
    assert [len(g.token_ids) for g in batch] == limits
    for a, b in zip(alone, batch):
        assert b.logprobs == pytest.approx(a.logprobs, abs=1e-3)
        assert b.prompt_tokens == a.prompt_tokens and b.text == a.text


def test_a_row_stops_at_its_own_stop_string_and_streams_only_its_tokens(tiny_engine):
    p = user_prompt(tiny_engine, "stop test")
    free = tiny_engine.generate(p, max_new_tokens=12, temperature=0, reuse_prefix=False)
    assert len(free.text) > 3
    stop = free.text[2:4]
    seen: list[int] = []
    rows = [BatchRequest(p, 12, stop=[stop], on_token=seen.append), BatchRequest(user_prompt(tiny_engine, "other"), 12)]
    cut, other = tiny_engine.generate_batch(rows, temperature=0)
    assert stop not in cut.text and free.text.startswith(cut.text) and cut.finish_reason == "stop"
    assert len(cut.token_ids) < 12  # decoding stopped there, not only the text cut after the limit
    assert seen == cut.token_ids and len(other.token_ids) == 12


def test_the_next_turn_reuses_the_kv_cache_of_the_last_one(tiny_engine):
    tiny_engine.prefix_cache.clear()
    history = [{"role": "system", "content": "You are a careful assistant. " * 8},
               {"role": "user", "content": "first question"}]
    first = tiny_engine.generate(tiny_engine.render(history), max_new_tokens=6, temperature=0)
    assert first.extra["cached_prompt_tokens"] == 0
    history += [{"role": "assistant", "content": first.text}, {"role": "user", "content": "and then?"}]
    prompt = tiny_engine.render(history)
    reused = tiny_engine.generate(prompt, max_new_tokens=6, temperature=0)
    fresh = tiny_engine.generate(prompt, max_new_tokens=6, temperature=0, reuse_prefix=False)
    assert reused.extra["cached_prompt_tokens"] > len(tiny_engine.render(history[:1])) // 2
    assert reused.token_ids == fresh.token_ids
    assert reused.logprobs == pytest.approx(fresh.logprobs, abs=1e-3)


class _Gate:
    """An engine stand-in whose first call blocks until released, so later jobs queue up."""

    def __init__(self):
        self.started, self.release, self.calls = threading.Event(), threading.Event(), []

    def generate(self, prompt, **kw):
        self.calls.append(("one", [prompt]))
        self.started.set()
        self.release.wait(timeout=30)
        return Generation("x", [1], [0.0], len(prompt), "stop")

    def generate_batch(self, reqs, **kw):
        self.calls.append(("batch", [r.prompt for r in reqs], kw, [r.seed for r in reqs]))
        return [Generation(str(r.prompt), [1], [0.0], len(r.prompt), "stop") for r in reqs]


def test_requests_that_wait_together_are_decoded_together():
    gate = _Gate()
    b = Batcher(gate, max_batch=3)
    greedy = {"temperature": 0.0, "top_p": 1.0, "max_new_tokens": 4}
    first = b.submit([0], greedy)
    assert gate.started.wait(timeout=30)
    later = [b.submit([i], greedy) for i in range(1, 5)]
    seeded = b.submit([9], {**greedy, "seed": 3})
    hot = b.submit([7], {**greedy, "temperature": 0.9})
    gate.release.set()
    results = [f.result(timeout=30) for f in [first, *later, seeded, hot]]
    b.close()
    assert [r.text for r in results[1:6]] == ["[1]", "[2]", "[3]", "[4]", "[9]"]
    assert b.batches == [1, 3, 2, 1]  # the queued four split by max_batch, the seeded one joins the fourth; hot alone
    assert gate.calls[1][:2] == ("batch", [[1], [2], [3]])
    assert gate.calls[2][1] == [[4], [9]] and gate.calls[2][3] == [None, 3]  # the seed travels with its row


def test_an_engine_error_reaches_only_its_batch_and_the_worker_lives_on():
    class Broken(_Gate):
        def generate(self, prompt, **kw):
            if prompt == [666]:
                raise RuntimeError("boom")
            return Generation("ok", [1], [0.0], 1, "stop")

    b = Batcher(Broken())
    bad = b.submit([666], {"max_new_tokens": 1})
    with pytest.raises(RuntimeError, match="boom"):
        bad.result(timeout=30)
    assert b.submit([1], {"max_new_tokens": 1}).result(timeout=30).text == "ok"
    b.close()


def test_requests_arriving_together_wait_for_each_other():
    """Clients whose previous replies ended together send again together: the first of them
    must not start alone. A generous window makes the grouping independent of thread timing."""
    gate = _Gate()
    gate.release.set()
    b = Batcher(gate, max_batch=3, gather_s=5.0)
    greedy = {"temperature": 0.0, "top_p": 1.0, "max_new_tokens": 4}
    futures = [b.submit([0], greedy)]
    deadline = time.monotonic() + 30
    while not b._queue.empty() and time.monotonic() < deadline:  # the model thread has taken it
        time.sleep(0.001)
    futures += [b.submit([i], greedy) for i in (1, 2)]  # a full batch: no need to wait out the window
    assert [f.result(timeout=30).text for f in futures] == ["[0]", "[1]", "[2]"]
    b.close()
    assert b.batches == [3]
