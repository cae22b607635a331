"""Logits processors that work per row: seeded sampling, and the chosen tokens' logprobs.

Seeded sampling per row lets requests with their own seeds share a batch.

``generate`` draws every row of a batch from torch's one global generator, so a request's
seed could only be honoured by running it alone, and a client that seeds every request (the
datagen teacher does, for resumable runs) lost batching altogether. Here each row gets its
own ``torch.Generator`` seeded by its request: temperature and top-p are applied and the
token drawn per row, and the row's scores become one-hot, so ``generate``'s own sampling step
can only pick that token. A seed draws the same random numbers alone or in any batch; the
logits themselves can differ in the last bits between batch shapes (padding, bf16 matmuls),
so near-ties may still go another way, as in any batched server.

``ChosenLogprobs`` keeps one float per row and step, the log-probability of the token drawn
(the model's distribution before temperature and top-p). ``generate``'s ``output_logits``
kept a vocabulary-wide float32 row per step instead: 0.6 MB a token for Qwen2.5, so 16 rows
of 2,000 tokens held 19 GB.
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


class ChosenLogprobs:
    """A logits processor that returns the scores unchanged and keeps each step's
    log-softmax until the next step shows which token was drawn. Put it before anything that
    changes the scores; ``of(sequences)`` gives the ``[rows, steps]`` logprobs at the end."""

    def __init__(self, torch: Any):
        self.torch, self.last, self.steps = torch, None, []

    def __call__(self, input_ids, scores):
        if self.last is not None:
            self.steps.append(self.last.gather(1, input_ids[:, -1:])[:, 0])
        self.last = self.torch.log_softmax(scores.float(), dim=-1)
        return scores

    def of(self, sequences):
        """Logprobs of the generated tokens, the last one included (``sequences`` as returned)."""
        steps = list(self.steps)
        if self.last is not None:
            steps.append(self.last.gather(1, sequences[:, -1:].to(self.last.device))[:, 0])
        if not steps:
            return self.torch.zeros((sequences.shape[0], 0))
        return self.torch.stack(steps, dim=1).cpu()


def sampling_kwargs(seeds: list[int | None], temperature: float, top_p: float, torch: Any) -> tuple[dict, ChosenLogprobs]:
    """``generate`` keywords for greedy (``temperature`` 0), plain or per-row seeded sampling,
    with the chosen tokens' logprobs kept by the returned ``ChosenLogprobs``."""
    from transformers import LogitsProcessorList

    logprobs = ChosenLogprobs(torch)
    processors: list[Any] = [logprobs]
    if not temperature or temperature <= 0:
        kw: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    elif any(s is not None for s in seeds):
        processors.append(RowSampler(seeds, temperature, top_p, torch))
        kw = dict(NEUTRAL)
    else:
        kw = {"do_sample": True, "temperature": float(temperature), "top_p": float(top_p), "top_k": 0}
    kw["logits_processor"] = LogitsProcessorList(processors)
    return kw, logprobs
