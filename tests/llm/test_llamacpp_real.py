"""The llama.cpp engine with the real library on the real 0.5B GGUF: it renders the prompt
exactly as ``transformers`` does, answers a coding request, and its prefix reuse changes
nothing in what greedy decoding writes.

Needs ``bash tools/llamacpp.sh`` and ``patchloop model fetch qwen2.5-coder-0.5b-instruct``;
skips without them, unless PATCHLOOP_REQUIRE_LLAMACPP=1, where it fails instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.realmodel, pytest.mark.slow]

NAME = "qwen2.5-coder-0.5b-instruct"
ASK = [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b. Only the code."}]


def _missing(why: str):
    if os.environ.get("PATCHLOOP_REQUIRE_LLAMACPP", "") not in ("", "0", "false"):
        pytest.fail(f"PATCHLOOP_REQUIRE_LLAMACPP=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def model_dir() -> Path:
    d = Path(os.environ.get("PATCHLOOP_CACHE", "~/.cache/patchloop")).expanduser() / "models" / NAME
    if not (d / "model.gguf").is_file():
        _missing(f"no {d / 'model.gguf'} (patchloop model fetch {NAME})")
    return d


@pytest.fixture(scope="module")
def engine(model_dir):
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        _missing("llama_cpp is not importable (bash tools/llamacpp.sh)")
    from patchloop.llm.serving.engines.llamacpp import load_engine

    return load_engine(str(model_dir), n_ctx=2048)


def test_prompt_matches_the_transformers_rendering(engine, model_dir):
    if not (model_dir / "hf" / "tokenizer_config.json").is_file():
        _missing(f"no HF checkpoint in {model_dir / 'hf'}")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir / "hf")
    tools = [{"type": "function", "function": {"name": "run", "parameters": {"type": "object"}}}]
    for t in (None, tools):
        hf = tok.apply_chat_template(
            ASK, tools=t, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        assert engine.render(ASK, t) == list(hf["input_ids"])


def test_writes_the_function_and_reuse_changes_nothing(engine):
    prompt = engine.render(ASK)
    first = engine.generate(prompt, temperature=0, max_new_tokens=48, use_cache=False)
    assert "def add(a, b)" in first.text and "return a + b" in first.text
    assert all(lp <= 0 for lp in first.logprobs) and len(first.logprobs) == len(first.token_ids)
    again = engine.generate(prompt, temperature=0, max_new_tokens=48)  # prefix reused from the first call
    assert again.extra["cached_prompt_tokens"] == len(prompt) - 1
    assert again.token_ids == first.token_ids
