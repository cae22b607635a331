"""Continuous batching: rows that join a running batch late, leave it early, or sample with
their own settings get the tokens they get alone, and serve's worker really runs them together."""

from __future__ import annotations

import threading

import pytest

from patchloop.llm.errors import LLMError
from patchloop.llm.serving.batched import BatchRequest
from patchloop.llm.serving.batcher import Batcher
from patchloop.llm.serving.continuous import Row
from tests.llm.conftest import user_prompt

pytestmark = pytest.mark.train

TEXTS = ("a", "a much longer request with many more tokens in it than the others", "mid size", "x y z")


def drain(batch, out: dict) -> None:
    while len(batch):
        for row in batch.step():
            out[row.owner] = batch.result(row)


def test_rows_that_join_late_and_leave_early_get_their_tokens_alone(tiny_engine):
    tiny_engine.prefix_cache.slots = 0
    prompts = [user_prompt(tiny_engine, t) for t in TEXTS]
    limits = [6, 9, 2, 7]
    alone = [tiny_engine.generate(p, max_new_tokens=n, temperature=0, reuse_prefix=False) for p, n in zip(prompts, limits)]
    batch, out = tiny_engine.running_batch(), {}
    rows = [Row(BatchRequest(p, n), owner=i) for i, (p, n) in enumerate(zip(prompts, limits))]
    batch.admit(rows[0])
    batch.step()
    batch.admit(rows[1])  # wider than the batch: the batch is padded to it
    batch.admit(rows[2])  # narrower: it is padded to the batch
    for row in batch.step():
        out[row.owner] = batch.result(row)
    assert 2 in out and len(batch) == 2  # the short row left while the others decode
    batch.admit(rows[3])
    drain(batch, out)
    assert [out[i].token_ids for i in range(4)] == [g.token_ids for g in alone]
    for i, g in enumerate(alone):
        assert out[i].logprobs == pytest.approx(g.logprobs, abs=1e-3)
        assert out[i].text == g.text and out[i].finish_reason == g.finish_reason == "length"
    assert batch.steps > 0 and batch.row_steps < batch.steps * 4  # finished rows stopped costing steps


def test_the_padding_a_long_row_needed_goes_when_it_leaves(tiny_engine):
    tiny_engine.prefix_cache.slots = 0
    long_prompt, short_prompt = (user_prompt(tiny_engine, t) for t in (TEXTS[1], TEXTS[0]))
    batch = tiny_engine.running_batch()
    batch.admit(Row(BatchRequest(long_prompt, 2), owner="long"))
    batch.admit(Row(BatchRequest(short_prompt, 6), owner="short"))
    assert batch.mask.shape[1] == len(long_prompt)  # the prompt; each row's first token is not fed yet
    left = batch.step()
    assert [r.owner for r in left] == ["long"]
    assert batch.mask.shape[1] == len(short_prompt) + 1 == batch.cache.get_seq_length()
    assert int(batch.mask.sum()) == batch.mask.numel()


def test_rows_with_their_own_temperature_and_seed_draw_what_they_draw_alone(tiny_engine):
    tiny_engine.prefix_cache.slots = 0
    settings = [(0.7, 1.0, 1), (1.3, 0.9, 2), (0.0, 1.0, None), (0.9, 0.5, 3)]
    prompts = [user_prompt(tiny_engine, t) for t in TEXTS]
    alone = [tiny_engine.generate(p, max_new_tokens=8, temperature=t, top_p=tp, seed=s, reuse_prefix=False)
             for p, (t, tp, s) in zip(prompts, settings)]
    batch, out = tiny_engine.running_batch(), {}
    for i, (p, (t, tp, s)) in enumerate(zip(prompts, settings)):
        batch.admit(Row(BatchRequest(p, 8, seed=s), t, tp, owner=i))
        batch.step()
    drain(batch, out)
    assert [out[i].token_ids for i in range(4)] == [g.token_ids for g in alone]


def test_a_finished_row_leaves_its_cache_for_the_next_turn(tiny_engine):
    tiny_engine.prefix_cache.clear()
    tiny_engine.prefix_cache.slots = 4
    history = [{"role": "system", "content": "You are a careful assistant. " * 8}, {"role": "user", "content": "first"}]
    batch, out = tiny_engine.running_batch(), {}
    batch.admit(Row(BatchRequest(tiny_engine.render(history), 6), owner="first"))
    batch.admit(Row(BatchRequest(user_prompt(tiny_engine, "another conversation"), 3), owner="other"))
    drain(batch, out)
    history += [{"role": "assistant", "content": out["first"].text}, {"role": "user", "content": "and then?"}]
    prompt = tiny_engine.render(history)
    batch.admit(Row(BatchRequest(prompt, 6), owner="second"))
    drain(batch, out)
    fresh = tiny_engine.generate(prompt, max_new_tokens=6, temperature=0, reuse_prefix=False)
    assert out["second"].extra["cached_prompt_tokens"] > len(tiny_engine.render(history[:2]))
    assert out["second"].token_ids == fresh.token_ids


def test_a_prompt_longer_than_the_context_is_refused_before_it_joins(tiny_engine):
    batch = tiny_engine.running_batch()
    with pytest.raises(LLMError, match="holds at most"):
        batch.admit(Row(BatchRequest([1] * tiny_engine.context, 4)))
    assert len(batch) == 0


def test_serve_worker_admits_requests_while_a_batch_decodes(tiny_engine):
    """The first request's token callback holds the model thread until two more requests,
    with other settings, are queued: they must join its batch, not wait for its end."""
    tiny_engine.prefix_cache.slots = 0
    b = Batcher(tiny_engine, max_batch=4)
    assert b.continuous
    queued, streamed = threading.Event(), []

    def hold(token: int) -> None:
        streamed.append(token)
        if len(streamed) == 1:
            assert queued.wait(timeout=30)

    prompts = [user_prompt(tiny_engine, t) for t in TEXTS[:3]]
    first = b.submit(prompts[0], {"max_new_tokens": 12, "temperature": 0.0}, on_token=hold)
    stop = tiny_engine.generate(prompts[1], max_new_tokens=10, temperature=0, reuse_prefix=False).text[3:5]
    later = [b.submit(prompts[1], {"max_new_tokens": 10, "temperature": 0.0, "stop": [stop]}),
             b.submit(prompts[2], {"max_new_tokens": 5, "temperature": 1.1, "top_p": 0.8, "seed": 4})]
    queued.set()
    got = [f.result(timeout=60) for f in [first, *later]]
    b.close()
    assert b.batches == [1, 2, 3]  # each joined the running batch
    assert streamed == got[0].token_ids and len(got[0].token_ids) == 12
    assert stop not in got[1].text and got[1].finish_reason == "stop"
    assert len(got[1].token_ids) < 10  # the row left at its stop string, not at its limit
    assert got[2].token_ids == tiny_engine.generate(prompts[2], max_new_tokens=5, temperature=1.1, top_p=0.8,
                                                    seed=4, reuse_prefix=False).token_ids


def test_a_cancelled_row_ends_and_a_failed_step_fails_only_its_rows(tiny_engine):
    tiny_engine.prefix_cache.slots = 0
    b = Batcher(tiny_engine, max_batch=4)
    cancel = threading.Event()
    cancelled = b.submit(user_prompt(tiny_engine, "go on"), {"max_new_tokens": 500, "temperature": 0.0},
                         on_token=lambda t: cancel.set(), cancel=cancel)
    assert len(cancelled.result(timeout=60).token_ids) == 1
    real_step, calls = b.running.step, []

    def broken_step():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real_step()

    b.running.step = broken_step
    with pytest.raises(RuntimeError, match="boom"):
        b.submit(user_prompt(tiny_engine, "x"), {"max_new_tokens": 5, "temperature": 0.0}).result(timeout=60)
    assert len(b.submit(user_prompt(tiny_engine, "y"), {"max_new_tokens": 3}).result(timeout=60).token_ids) == 3
    b.close()


def test_a_request_that_would_outgrow_the_kv_budget_waits_for_the_batch(tiny_engine, monkeypatch):
    """Rows are padded to the widest, so the budget is rows x width: with room for one row's
    cache only, the second request starts when the first has left, not beside it."""
    tiny_engine.prefix_cache.slots = 0
    batch = tiny_engine.running_batch()
    prompt = user_prompt(tiny_engine, "budget")
    one_row = (len(prompt) + 8) * batch.kv_bytes_per_token
    monkeypatch.setenv("PATCHLOOP_KV_GB", str(1.5 * one_row / 2**30))
    batch.admit(Row(BatchRequest(prompt, 8)))
    assert not batch.fits(len(prompt), 8)
    monkeypatch.setenv("PATCHLOOP_KV_GB", str(2.5 * one_row / 2**30))
    assert batch.fits(len(prompt), 8)

    monkeypatch.setenv("PATCHLOOP_KV_GB", str(1.5 * one_row / 2**30))
    b = Batcher(tiny_engine, max_batch=4)
    queued = threading.Event()
    first = b.submit(prompt, {"max_new_tokens": 8, "temperature": 0.0}, on_token=lambda t: queued.wait(timeout=30))
    second = b.submit(prompt, {"max_new_tokens": 8, "temperature": 0.0})
    queued.set()
    assert first.result(timeout=60).token_ids == second.result(timeout=60).token_ids
    b.close()
    assert b.batches == [1, 1]
