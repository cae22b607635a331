"""Decode-step attention for CPU inference: plain batched matmuls instead of SDPA's CPU kernel.

At one new token per step, PyTorch's CPU flash-attention kernel is slow over a long KV cache:
measured on the 0.5B model in bf16 (2-core AMD EPYC), a decode step with 5,000 cached tokens
took ~140 ms against ~55 ms with 20, and the kernel alone was 55% of the step. The agent's turns
decode on top of thousands of cached prompt tokens, so that is where its time went. For one
query token the whole computation is two small matrix products per KV head (the query heads
of a GQA group share their keys and values, so no ``repeat_kv`` copy) and a softmax, all in
float32 as SDPA's kernel accumulates (scores rounded to bf16 flipped a greedy near-tie of the real
model); with those the same step took ~60 ms at 5,000 cached tokens, and greedy outputs match
SDPA's (``tests/llm/test_cpu_attention.py``, ``tests/llm/test_real_model.py``). Prefill, training and any query longer than one token
keep transformers' SDPA path unchanged.

``PATCHLOOP_ATTENTION=sdpa`` turns it off.
"""

from __future__ import annotations

import os

NAME = "patchloop_cpu_decode"
_registered = False


def decode_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
                     is_causal=None, **kwargs):
    """Attention in transformers' interface: (output as batch x query x heads x dim, no weights)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if query.shape[2] != 1 or module.training or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    import torch

    batch, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    # float32 throughout, as SDPA's kernel accumulates: bf16 scores (8 mantissa bits) flip greedy near-ties
    q = query.float().reshape(batch, kv_heads, heads // kv_heads, dim)  # a GQA group's queries side by side
    scores = torch.matmul(q, key.float().transpose(-1, -2)) * (scaling if scaling is not None else dim ** -0.5)
    if attention_mask is not None:
        mask = attention_mask[..., : key.shape[-2]]  # (batch, 1, 1, keys), as SDPA's path cuts it
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask.float()
    probs = torch.softmax(scores, dim=-1)
    out = torch.matmul(probs, value.float()).reshape(batch, heads, 1, dim)
    return out.transpose(1, 2).to(value.dtype).contiguous(), None


def register() -> None:
    """Make ``NAME`` a transformers attention implementation (its masks are SDPA's)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, decode_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    _registered = True


def use_for_cpu_decoding(model) -> bool:
    """Switch a CPU model that runs SDPA to this attention; True when it did."""
    if os.environ.get("PATCHLOOP_ATTENTION", "").strip().lower() == "sdpa":
        return False
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa" or not getattr(model, "_supports_attention_backend", False):
        return False
    if next(model.parameters()).device.type != "cpu":
        return False
    register()
    model.set_attn_implementation(NAME)
    return True
