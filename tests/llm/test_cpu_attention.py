"""The CPU decode-step attention gives SDPA's results, takes over only one-token queries, and can be
turned off. A small random Qwen2 model stands in for the real one (same attention code, GQA)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from patchloop.llm.serving import cpu_attention  # noqa: E402


def _model():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    cfg._attn_implementation = "sdpa"
    return Qwen2ForCausalLM(cfg).eval()


def _greedy(model, ids, mask, n=12):
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                             pad_token_id=0, return_dict_in_generate=True, output_logits=True)
    return out.sequences, torch.stack(out.logits)


def _left_padded(lengths, seed=1):
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids, mask = torch.zeros((len(lengths), width), dtype=torch.long), torch.zeros((len(lengths), width), dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, width - n:] = torch.randint(1, 96, (n,), generator=g)
        mask[i, width - n:] = 1
    return ids, mask


@pytest.mark.parametrize("lengths", [[300], [40, 7, 25]], ids=["long-prompt", "left-padded-batch"])
def test_same_greedy_tokens_and_logits_as_sdpa(lengths):
    model = _model()
    ids, mask = _left_padded(lengths)
    want_seq, want_logits = _greedy(model, ids, mask)
    assert cpu_attention.use_for_cpu_decoding(model)
    assert model.config._attn_implementation == cpu_attention.NAME
    got_seq, got_logits = _greedy(model, ids, mask)
    assert torch.equal(got_seq, want_seq)
    assert torch.allclose(got_logits, want_logits, atol=1e-4)


def test_only_one_token_queries_leave_sdpa(monkeypatch):
    import transformers.integrations.sdpa_attention as sdpa

    model = _model()
    cpu_attention.use_for_cpu_decoding(model)
    calls = []
    real = sdpa.sdpa_attention_forward
    monkeypatch.setattr(sdpa, "sdpa_attention_forward", lambda *a, **k: calls.append(a[1].shape[2]) or real(*a, **k))
    _greedy(model, *_left_padded([30]), n=5)
    assert calls and set(calls) == {30}  # the prompt went through SDPA (once per layer), no decode step did


def test_off_switch_and_non_cpu_models_keep_sdpa(monkeypatch):
    monkeypatch.setenv("PATCHLOOP_ATTENTION", "sdpa")
    model = _model()
    assert not cpu_attention.use_for_cpu_decoding(model)
    assert model.config._attn_implementation == "sdpa"
    monkeypatch.delenv("PATCHLOOP_ATTENTION")
    model.config._attn_implementation = "eager"  # a model that asked for another implementation keeps it
    assert not cpu_attention.use_for_cpu_decoding(model)


def test_bf16_inputs_are_attended_in_float32_like_sdpa():
    """Scores rounded to bf16 (8 mantissa bits) move outputs by ~10x SDPA's rounding and flipped a
    greedy near-tie of the real model; computed in float32 the two agree to a bf16 ulp or two."""
    import types

    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    torch.manual_seed(0)
    module = types.SimpleNamespace(training=False, num_key_value_groups=7, is_causal=True)
    q = (torch.randn(1, 14, 1, 64) * 3).bfloat16()
    k = (torch.randn(1, 2, 3000, 64) * 3).bfloat16()
    v = torch.randn(1, 2, 3000, 64).bfloat16()
    want, _ = sdpa_attention_forward(module, q, k, v, None, scaling=0.125)
    got, _ = cpu_attention.decode_attention(module, q, k, v, None, scaling=0.125)
    assert got.dtype == torch.bfloat16 and got.shape == want.shape
    assert (got.float() - want.float()).abs().max().item() <= 0.016
