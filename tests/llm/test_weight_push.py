"""Merging a trained LoRA adapter into checkpoint-named weights for a server to reload: the
merged model computes what the adapter model computes, every base weight is named as the
checkpoint names it, and the trainer's own weights are left exactly as they were."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.train


def test_merged_weights_load_into_the_plain_model_and_compute_the_adapters_logits(tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from patchloop.llm.generation.weight_push import save_merged
    from tests.llm.lora_helpers import save_lora

    adapter = save_lora(tiny_model_dir, tmp_path / "adapter", scale=2.0)
    policy = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(adapter))
    before = {k: v.clone() for k, v in policy.named_parameters()}
    out = save_merged(policy, tmp_path / "merged", torch.float32)
    assert all(torch.equal(v, before[k]) for k, v in policy.named_parameters())  # trainer untouched

    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    weights = load_file(str(out / "model.safetensors"))
    expected = {k for k in plain.state_dict() if k != "lm_head.weight" or not plain.config.tie_word_embeddings}
    assert set(weights) == expected
    plain.load_state_dict(weights, strict=False)
    ids = torch.tensor([[1, 5, 9, 13, 2, 7]])
    with torch.no_grad():
        want, got = policy(input_ids=ids).logits, plain(input_ids=ids).logits
        start = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-4) and not torch.allclose(got, start, atol=1e-2)
