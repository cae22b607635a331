"""The llama.cpp engine's own logic (prompt rendering, sampling, stops, finish reasons, prefix
reuse, the shape ``serve`` calls), run on a scripted stand-in for llama.cpp so it holds
whether or not ``llama-cpp-python`` is built here. The real library on the real GGUF is
``test_llamacpp_real.py``."""

from __future__ import annotations

import json
import os
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

import patchloop.llm
from patchloop.llm import LLMError
from patchloop.llm.serving.engines.llamacpp import LlamaCppModel, log_softmax, pick_token, resolve_gguf

TEMPLATE = (Path(patchloop.llm.__file__).parent / "catalog" / "chat_template.j2").read_text()
IM_END, IM_START = 256, 257
REPLY = b"def add(a, b):\n    return a + b\n"


class ScriptedLlama:
    """A byte-level 'model' in llama.cpp's shape that always answers REPLY, then <|im_end|>.

    It keeps a real token sequence as its cache, so what the engine reuses and what it
    evaluates again can be counted (``evaluated``)."""

    n_vocab = 258
    chat_template = TEMPLATE
    specials = {"bos_token": "", "eos_token": "<|im_end|>"}

    def __init__(self, n_ctx: int = 4096):
        self.n_ctx, self.seq, self.evaluated = n_ctx, [], 0

    def tokenize(self, text: str) -> list[int]:
        out, data = [], text.encode()
        while data:
            for tid, mark in ((IM_END, b"<|im_end|>"), (IM_START, b"<|im_start|>")):
                if data.startswith(mark):
                    out.append(tid)
                    data = data[len(mark) :]
                    break
            else:
                out.append(data[0])
                data = data[1:]
        return out

    def piece(self, ids: list[int]) -> bytes:
        return bytes(t for t in ids if t < 256)

    def is_eog(self, token: int) -> bool:
        return token == IM_END

    def cached(self) -> list[int]:
        return list(self.seq)

    def eval(self, ids: list[int], keep: int) -> None:
        assert 0 <= keep <= len(self.seq), "kept more tokens than the cache holds"
        self.seq = self.seq[:keep] + list(ids)
        self.evaluated += len(ids)

    def logits(self) -> np.ndarray:
        start = len(self.seq) - 1 - self.seq[::-1].index(IM_START) + 1 + len(b"assistant\n")
        k = len(self.seq) - start
        target = REPLY[k] if 0 <= k < len(REPLY) else IM_END
        out = np.zeros(self.n_vocab, dtype=np.float32)
        out[target] = 10.0
        out[ord("#")] = 9.0  # a runner-up (p ~ 0.27), so sampling has a real choice
        return out


def _engine(**kw) -> tuple[LlamaCppModel, ScriptedLlama]:
    backend = ScriptedLlama(**kw)
    return LlamaCppModel("scripted", backend=backend), backend


MESSAGES = [{"role": "user", "content": "add two numbers"}]


def test_render_uses_the_gguf_template_and_ends_with_the_generation_prompt():
    engine, _ = _engine()
    text = engine.tokenizer.decode(engine.render(MESSAGES))
    assert "add two numbers" in text and text.endswith("assistant\n")
    tools = [{"type": "function", "function": {"name": "run", "parameters": {"type": "object"}}}]
    assert '"name": "run"' in engine.tokenizer.decode(engine.render(MESSAGES, tools))


def test_render_error_is_one_line_naming_the_model():
    engine, backend = _engine()
    backend.chat_template = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(
        LLMError, match="chat template of scripted rejected the messages: roles must alternate"
    ):
        engine.render(MESSAGES)


def test_greedy_generation_returns_text_ids_logprobs_and_stop():
    engine, _ = _engine()
    prompt = engine.render(MESSAGES)
    gen = engine.generate(prompt, temperature=0, max_new_tokens=100)
    assert gen.text == REPLY.decode()
    assert gen.token_ids == [*REPLY, IM_END]
    assert gen.finish_reason == "stop" and gen.prompt_tokens == len(prompt)
    # log p of the scripted best token (logit 10 beside one 9 and 256 zeros), untempered
    lp = float(log_softmax(np.array([10.0, 9.0] + [0.0] * 256, dtype=np.float32))[0])
    assert gen.logprobs == pytest.approx([lp] * len(gen.token_ids), abs=1e-5)


def test_max_new_tokens_ends_with_length():
    engine, _ = _engine()
    gen = engine.generate(engine.render(MESSAGES), temperature=0, max_new_tokens=5)
    assert gen.token_ids == list(REPLY[:5]) and gen.text == "def a" and gen.finish_reason == "length"


def test_stop_string_cuts_the_text_and_ends_with_stop():
    engine, _ = _engine()
    gen = engine.generate(engine.render(MESSAGES), temperature=0, stop=["return"])
    assert gen.text == "def add(a, b):\n    " and gen.finish_reason == "stop"
    assert engine.tokenizer.decode(gen.token_ids).endswith("return")  # ids are what was sampled


def test_next_turn_evaluates_only_its_new_tokens():
    engine, backend = _engine()
    first = engine.render(MESSAGES)
    gen = engine.generate(first, temperature=0)
    assert backend.evaluated == len(first) + len(gen.token_ids) - 1  # the last sampled token is never fed
    turn2 = engine.render(
        [*MESSAGES, {"role": "assistant", "content": gen.text}, {"role": "user", "content": "again"}]
    )
    before = backend.evaluated
    again = engine.generate(turn2, temperature=0)
    reused = again.extra["cached_prompt_tokens"]
    assert (
        reused >= len(first) and backend.evaluated - before == len(turn2) - reused + len(again.token_ids) - 1
    )
    assert again.text == REPLY.decode()


def test_same_prompt_twice_replays_one_token_and_without_cache_all():
    engine, backend = _engine()
    prompt = engine.render(MESSAGES)
    engine.generate(prompt, temperature=0, max_new_tokens=1)
    before = backend.evaluated
    assert (
        engine.generate(prompt, temperature=0, max_new_tokens=1).extra["cached_prompt_tokens"]
        == len(prompt) - 1
    )
    assert backend.evaluated - before == 1
    before = backend.evaluated
    engine.generate(prompt, temperature=0, max_new_tokens=1, use_cache=False)
    assert backend.evaluated - before == len(prompt)


def test_sampling_is_seeded_and_top_p_narrows_to_the_best():
    engine, _ = _engine()
    prompt = engine.render(MESSAGES)
    a = engine.generate(prompt, temperature=1.0, seed=1, max_new_tokens=40)
    b = engine.generate(prompt, temperature=1.0, seed=1, max_new_tokens=40)
    c = engine.generate(prompt, temperature=1.0, seed=2, max_new_tokens=40)
    assert a.token_ids == b.token_ids and a.token_ids != c.token_ids
    assert ord("#") in a.token_ids + c.token_ids  # the runner-up does get drawn
    nucleus = engine.generate(prompt, temperature=1.0, top_p=0.5, seed=3)
    assert nucleus.text == REPLY.decode()


def test_pick_token_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.log(np.array([0.5, 0.3, 0.2], dtype=np.float32))
    rng = np.random.default_rng(0)
    drawn = {pick_token(logits, 1.0, 0.75, rng) for _ in range(300)}
    assert drawn == {0, 1}


def test_on_token_sees_every_token_and_cancel_stops():
    engine, _ = _engine()
    seen, cancel = [], threading.Event()

    def on_token(t):
        seen.append(t)
        if len(seen) == 3:
            cancel.set()

    gen = engine.generate(engine.render(MESSAGES), temperature=0, on_token=on_token, cancel=cancel)
    assert seen == gen.token_ids == list(REPLY[:3]) and gen.finish_reason == "length"


def test_prompt_longer_than_the_context_is_one_line():
    engine, _ = _engine(n_ctx=16)
    with pytest.raises(LLMError, match="prompt is .* tokens but scripted holds at most 16"):
        engine.generate(engine.render(MESSAGES))


def test_missing_library_says_how_to_install(monkeypatch, tmp_path):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(LLMError, match=r"llama-cpp-python is not installed: run `bash tools/llamacpp.sh`"):
        LlamaCppModel(str(tmp_path))


def test_openmp_waits_passively_unless_the_user_chose(monkeypatch):
    from patchloop.llm.serving.engines.llamacpp import import_llama_cpp

    stub = types.ModuleType("llama_cpp")
    monkeypatch.setitem(sys.modules, "llama_cpp", stub)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert import_llama_cpp() is stub and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    import_llama_cpp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_gguf_paths_resolve(monkeypatch, tmp_path):
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path))
    name = "qwen2.5-coder-0.5b-instruct"
    with pytest.raises(LLMError, match="no GGUF file for qwen2.5-coder-0.5b-instruct: fetch it"):
        resolve_gguf(name)
    model = tmp_path / "models" / name
    model.mkdir(parents=True)
    (model / "model.gguf").write_bytes(b"GGUF")
    assert resolve_gguf(name) == resolve_gguf(str(model)) == model / "model.gguf"
    with pytest.raises(LLMError, match="no GGUF file for"):
        resolve_gguf(str(tmp_path / "missing.gguf"))


def test_serve_answers_through_the_engine():
    from fastapi.testclient import TestClient

    from patchloop.llm.serving.server import ChatServer

    engine, _ = _engine()
    server = ChatServer(engine, "scripted")
    try:
        client = TestClient(server.app)
        body = {"messages": MESSAGES, "temperature": 0, "logprobs": True, "return_token_ids": True}
        choice = client.post("/v1/chat/completions", json=body).json()["choices"][0]
        assert choice["message"]["content"] == REPLY.decode().strip() and choice["finish_reason"] == "stop"
        assert choice["token_ids"][-1] == IM_END and len(choice["logprobs"]["content"]) == len(REPLY) + 1
        lines = client.post("/v1/chat/completions", json={**body, "stream": True}).text.splitlines()
        chunks = [json.loads(x[6:]) for x in lines if x.startswith("data: {")]
        streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert streamed.strip() == REPLY.decode().strip()
    finally:
        server.close()
