"""The vLLM engine adapter, driven by a stand-in with ``vllm.LLM.generate``'s signature and
output shape (no vLLM on these machines): concurrent callers are batched into one call, each
with its own settings, and the sampled ids and logprobs come back to the caller that asked."""

from __future__ import annotations

import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor

import pytest


class StandInLLM:
    """Answers prompt ``p`` with ids ``p[-1]+1, p[-1]+2, ...`` (``max_tokens`` of them) and
    logprob -0.1 each; records the batches it was given. The first call waits until released,
    so the calls made meanwhile queue up behind it."""

    def __init__(self):
        self.batches: list[list[tuple[list[int], dict]]] = []
        self.release = threading.Event()
        self.llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=64))

    def generate(self, prompts, params, use_tqdm=True):
        self.release.wait(30)
        self.batches.append([(p["prompt_token_ids"], s.kw) for p, s in zip(prompts, params)])
        outs = []
        for p, s in zip(prompts, params):
            ids = [p["prompt_token_ids"][-1] + i + 1 for i in range(s.kw["max_tokens"])]
            lps = [{t: types.SimpleNamespace(logprob=-0.1)} for t in ids]
            outs.append(types.SimpleNamespace(outputs=[types.SimpleNamespace(token_ids=ids, logprobs=lps,
                                                                             finish_reason="length")]))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.SamplingParams = lambda **kw: types.SimpleNamespace(kw=kw)
    monkeypatch.setitem(sys.modules, "vllm", module)


def test_concurrent_calls_share_one_generate_and_get_their_own_ids(fake_vllm, tiny_model_dir):
    from transformers import AutoTokenizer

    from patchloop.llm.serving.engines.vllm_llm import VLLMEngine

    llm = StandInLLM()
    engine = VLLMEngine(llm, AutoTokenizer.from_pretrained(tiny_model_dir))
    assert engine.context == 64
    queued, put = threading.Semaphore(0), engine._queue.put
    engine._queue.put = lambda item: (put(item), queued.release())
    prompts = [[10 * k + 1, 10 * k + 2] for k in range(5)]
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(engine.generate, p, max_new_tokens=3, temperature=1.0, seed=k)
                   for k, p in enumerate(prompts)]
        for _ in prompts:  # all five asked while the first batch is held inside generate
            assert queued.acquire(timeout=30)
        llm.release.set()
        gens = [f.result(timeout=30) for f in futures]
    engine.close()
    # the first call takes what had arrived; everything asked meanwhile goes in one more call
    assert len(llm.batches) <= 2 and sum(map(len, llm.batches)) == 5
    for p, g in zip(prompts, gens):
        assert g.token_ids == [p[-1] + 1, p[-1] + 2, p[-1] + 3] and g.logprobs == [-0.1] * 3
        assert g.prompt_tokens == 2 and g.finish_reason == "length"
    settings = {tuple(p): kw for batch in llm.batches for p, kw in batch}
    assert [settings[tuple(p)]["seed"] for p in prompts] == [0, 1, 2, 3, 4]
    assert all(kw["logprobs"] == 0 and kw["max_tokens"] == 3 for kw in settings.values())
    tail = engine.encode("<|im_start|>assistant\n")  # the local engine's chat rendering
    assert engine.render([{"role": "user", "content": "hi"}])[-len(tail):] == tail
