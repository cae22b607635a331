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
            self.generators = [seeded_generator(s, device, self.torch) for s in self.seeds]
        return self.generators

    def __call__(self, input_ids, scores):
        torch = self.torch
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        chosen = torch.full_like(scores, float("-inf"))
        for i, (g, (p, ids)) in enumerate(zip(self._generators(scores.device), candidates(probs, self.top_p, torch))):
            chosen[i, draw(p, ids, g, torch)] = 0.0
        return chosen


def seeded_generator(seed: int | None, device, torch: Any):
    """A generator for one row: from ``seed``, or from a seed drawn from torch's global one."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**62, (1,))))
    return g


def draw(p, ids, generator, torch: Any) -> int:
    """One token id from candidates ``(p, ids)`` (unnormalised probabilities) by inverse CDF:
    ``torch.multinomial`` over a 150k vocabulary took ~25 ms a row here."""
    cdf = p.cumsum(dim=0)
    u = torch.rand((), generator=generator, device=p.device) * cdf[-1]
    return int(ids[int(torch.searchsorted(cdf, u, right=True).clamp(max=len(p) - 1))])


def candidates(probs, top_p: float, torch, shortlist: int = 1024) -> list[tuple]:
    """Per row, the tokens top-p keeps: ``(probabilities, token ids)``, the smallest set of
    mass >= ``top_p`` (the most likely token always stays), unnormalised. A full sort of a
    150k vocabulary per row cost more than the model's decode step, so the ``shortlist`` most
    likely tokens are taken first; only a row whose shortlist does not reach ``top_p`` is
    sorted whole (same result)."""
    if top_p >= 1.0:
        every = torch.arange(probs.shape[-1], device=probs.device)
        return [(row, every) for row in probs]
    top, order = torch.topk(probs, min(shortlist, probs.shape[-1]), dim=-1)
    out = []
    for i, reached in enumerate((top.sum(dim=-1) >= top_p).tolist()):
        p, ids = (top[i], order[i]) if reached else torch.sort(probs[i], descending=True)
        keep = int(((p.cumsum(dim=0) - p) < top_p).sum())
        out.append((p[:max(1, keep)], ids[:max(1, keep)]))
    return out


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
    """``generate`` keywords for greedy (``temperature`` 0) or per-row sampling (a row without
    a seed draws one from torch's global generator), with the chosen tokens' logprobs kept by
    the returned ``ChosenLogprobs``."""
    from transformers import LogitsProcessorList

    logprobs = ChosenLogprobs(torch)
    processors: list[Any] = [logprobs]
    if not temperature or temperature <= 0:
        kw: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    else:  # also unseeded: generate's top-p warper sorts the whole vocabulary every step
        processors.append(RowSampler(seeds, temperature, top_p, torch))
        kw = dict(NEUTRAL)
    kw["logits_processor"] = LogitsProcessorList(processors)
    return kw, logprobs
