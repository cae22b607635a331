"""Seeded sampling per row, so requests with their own seeds can share a batch.

``generate`` draws every row of a batch from torch's one global generator, so a request's
seed could only be honoured by running it alone, and a client that seeds every request (the
datagen teacher does, for resumable runs) lost batching altogether. Here each row gets its
own ``torch.Generator`` seeded by its request: temperature and top-p are applied and the
token drawn per row, and the row's scores become one-hot, so ``generate``'s own sampling step
can only pick that token. A seed draws the same random numbers alone or in any batch; the
logits themselves can differ in the last bits between batch shapes (padding, bf16 matmuls),
so near-ties may still go another way, as in any batched server.
"""

from __future__ import annotations

from typing import Any

# generate's own warpers are switched off (temperature 1, top-p 1, top-k 0): this does their work
NEUTRAL = {"do_sample": True, "temperature": 1.0, "top_p": 1.0, "top_k": 0}


class RowSampler:
    """A logits processor: row ``i`` is sampled with temperature and top-p from ``seeds[i]``
    (an unseeded row gets a seed from torch's global generator)."""

    def __init__(self, seeds: list[int | None], temperature: float, top_p: float, torch: Any):
        self.torch, self.temperature, self.top_p = torch, float(temperature), float(top_p)
        self.seeds = [int(s) if s is not None else int(torch.randint(0, 2**62, (1,))) for s in seeds]
        self.generators: list[Any] = []

    def _generators(self, device) -> list[Any]:
        if not self.generators:
            for s in self.seeds:
                g = self.torch.Generator(device=device)
                g.manual_seed(s)
                self.generators.append(g)
        return self.generators

    def __call__(self, input_ids, scores):
        torch = self.torch
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            probs = nucleus(probs, self.top_p, torch)
        chosen = torch.full_like(scores, float("-inf"))
        for i, g in enumerate(self._generators(scores.device)):
            tok = torch.multinomial(probs[i], 1, generator=g)
            chosen[i, tok] = 0.0
        return chosen


def nucleus(probs, top_p: float, torch):
    """``probs`` with everything outside the smallest set of mass >= ``top_p`` zeroed (the
    most likely token always stays), renormalised."""
    ordered, order = torch.sort(probs, dim=-1, descending=True)
    outside = (torch.cumsum(ordered, dim=-1) - ordered) >= top_p
    outside[..., 0] = False
    ordered = ordered.masked_fill(outside, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, ordered)
    return kept / kept.sum(dim=-1, keepdim=True)


def seeded_sampling(seeds: list[int | None], temperature: float, top_p: float, torch: Any) -> dict[str, Any]:
    """``generate`` keywords that sample each row from its own seed."""
    from transformers import LogitsProcessorList

    return {**NEUTRAL, "logits_processor": LogitsProcessorList([RowSampler(seeds, temperature, top_p, torch)])}
