"""Truncated importance sampling for GRPO rollouts an engine sampled, and the mismatch it logs.

An engine's sampler is not the trainer's arithmetic: vLLM's CPU kernels in bf16, its own
attention, another batch shape. The tokens it draws come from a distribution slightly
different from the policy being trained, and a policy gradient that ignores this is biased.
TRL corrects it (truncated importance sampling, ``vllm_importance_sampling_correction``) only
when it drives vLLM itself; through its public ``rollout_func`` the sampling log-probabilities
are kept but not used (TRL issue #3708 tracks the private methods a fuller hook would need).

So the correction goes in through the one per-token hook TRL's loss reads from a
``rollout_func``: ``env_mask``, which TRL multiplies into the loss mask. Each token's weight is
``min(pi_train / pi_engine, cap)`` (TRL's ``token_truncate`` mode, its default cap 3.0), where
``pi_train`` is the trained policy at the moment of sampling, recomputed here with the same
temperature. One difference from TRL's own path, stated rather than hidden: TRL normalises the
``dapo``/``bnpo`` loss by the sum of the mask, so the weights act self-normalised over the batch
(weighted importance sampling), which changes the step by the mean weight, close to 1 when the
mismatch is small. Forced tokens (the end-of-turn a stop rule appends, logprob 0) weigh 1.
"""

from __future__ import annotations

import math
from typing import Any

TRL_DEFAULT_CAP = 3.0


def policy_logprobs(model, prompt_ids: list[list[int]], completion_ids: list[list[int]], *, temperature: float = 1.0,
                    chunk: int = 2, pad_id: int = 0) -> list[list[float]]:
    """log pi(token | prefix) of each completion token under ``model`` at ``temperature``,
    computed ``chunk`` sequences at a time (one 0.5B forward of 32 long rows would hold ~14 GB
    of logits)."""

    out: list[list[float]] = []
    temp = temperature if temperature > 0 else 1.0
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # the policy that sampled, not one with LoRA dropout drawn on top
    try:
        _score(model, prompt_ids, completion_ids, temp, chunk, pad_id, device, out)
    finally:
        model.train(was_training)
    return out


def _score(model, prompt_ids, completion_ids, temp, chunk, pad_id, device, out) -> None:
    import torch

    with torch.no_grad():
        for start in range(0, len(prompt_ids), chunk):
            rows = [list(p) + list(c) for p, c in zip(prompt_ids[start:start + chunk],
                                                      completion_ids[start:start + chunk])]
            width = max(map(len, rows))
            ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], device=device)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            for j, (p, c) in enumerate(zip(prompt_ids[start:start + chunk], completion_ids[start:start + chunk])):
                if not c:
                    out.append([])
                    continue
                span = logits[j, len(p) - 1:len(p) - 1 + len(c)].float() / temp
                picked = torch.tensor(list(c), device=device)[:, None]
                out.append((span.gather(-1, picked).squeeze(-1) - span.logsumexp(-1)).tolist())
            del logits


def truncated_weights(train_lps: list[list[float]], engine_lps: list[list[float]], forced: list[list[bool]],
                      *, cap: float = TRL_DEFAULT_CAP) -> tuple[list[list[float]], dict[str, float]]:
    """Per-token weights ``min(exp(train - engine), cap)`` (forced tokens 1.0), and the
    mismatch statistics over sampled tokens: the ratio's min/mean/max, the mean and max of
    ``|log ratio|``, an estimate of KL(engine || train) (``E[r - 1 - log r]``, always >= 0), and
    the share of tokens the cap cut."""
    weights, ratios, diffs = [], [], []
    for tr, en, fo in zip(train_lps, engine_lps, forced):
        row = []
        for t, e, f in zip(tr, en, fo):
            if f or not (math.isfinite(t) and math.isfinite(e)):
                row.append(1.0)
                continue
            d = t - e
            r = math.exp(min(d, 50.0))
            ratios.append(r)
            diffs.append(d)
            row.append(min(r, cap))
        weights.append(row)
    return weights, mismatch_stats(ratios, diffs, cap)


def mismatch_stats(ratios: list[float], diffs: list[float], cap: float) -> dict[str, Any]:
    if not ratios:
        return {}
    n = len(ratios)
    return {"is_ratio_min": min(ratios), "is_ratio_mean": sum(ratios) / n, "is_ratio_max": max(ratios),
            "logp_diff_mean": sum(abs(d) for d in diffs) / n, "logp_diff_max": max(abs(d) for d in diffs),
            "kl_engine_train": sum(r - 1.0 - d for r, d in zip(ratios, diffs)) / n,
            "is_capped_share": sum(r > cap for r in ratios) / n}
