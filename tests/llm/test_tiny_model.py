"""``init-tiny``: deterministic, loadable by plain transformers, good enough at Python text."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.train


def _hashes(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_same_seed_gives_identical_files_and_other_seed_other_weights(tiny_model_dir, tmp_path):
    # Through the real CLI, so the command is covered too.
    subprocess.run(
        [sys.executable, "-m", "patchloop", "model", "init-tiny", "--out", str(tmp_path / "s1"), "--seed", "1"],
        check=True,
        capture_output=True,
    )
    from patchloop.llm.catalog.tiny import init_tiny

    again = _hashes(init_tiny(tmp_path / "s0", seed=0))
    assert again == _hashes(tiny_model_dir)
    other = _hashes(tmp_path / "s1")
    assert other["tokenizer.json"] == again["tokenizer.json"]  # tokenizer depends on corpus only
    assert other["model.safetensors"] != again["model.safetensors"]


def test_loads_with_auto_classes_and_generates(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.architectures == ["Qwen2ForCausalLM"]
    n_params = sum(p.numel() for p in model.parameters())
    assert 1_000_000 < n_params < 10_000_000
    assert tok.model_max_length >= 2048
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.eos_token_id in model.generation_config.eos_token_id
    ids = tok("def f(x):\n    return x\n", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5 or tok.eos_token_id in out[0].tolist()
    assert torch.isfinite(model(**ids).logits).all()


def test_tokenizer_round_trips_code_and_keeps_indentation(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    code = 'class A:\n    def f(self, x):\n        """Doc."""\n        return {"k": x ** 2}\t# ünï\n'
    ids = tok(code)["input_ids"]
    assert tok.decode(ids) == code
    pieces = [tok.decode([i]) for i in ids]
    assert "       " in pieces  # indentation runs are single tokens
    assert " return" in pieces and " def" in pieces
    assert len(ids) < len(code) / 2  # real compression on code, not byte fallback


def test_chat_template_renders_tools_calls_results_and_assistant_mask(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tools = [{"type": "function", "function": {"name": "run", "description": "run a command",
                                               "parameters": {"type": "object", "properties": {}}}}]
    msgs = [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "run", "arguments": '{"cmd": "ls"}'}}]},
        {"role": "tool", "content": "a.py"},
        {"role": "assistant", "content": "done"},
    ]
    text = tok.apply_chat_template(msgs, tools=tools, tokenize=False)
    assert '"name": "run"' in text and "<tools>" in text
    assert '<tool_call>\n{"name": "run", "arguments": {"cmd": "ls"}}\n</tool_call><|im_end|>' in text
    assert "<tool_response>\na.py\n</tool_response>" in text
    prompt = tok.apply_chat_template(msgs[:1], add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")
    # Tool tags survive skip_special_tokens (the parser needs them); chat tokens do not.
    enc = tok("<tool_call>x</tool_call><|im_end|>")["input_ids"]
    assert tok.decode(enc, skip_special_tokens=True) == "<tool_call>x</tool_call>"
    # TRL's assistant_only_loss needs the generation blocks.
    out = tok.apply_chat_template(msgs, tools=tools, return_dict=True, return_assistant_tokens_mask=True)
    masked = tok.decode([i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m])
    assert masked.startswith("<tool_call>") and masked.endswith("done<|im_end|>")
    assert "list files" not in masked
