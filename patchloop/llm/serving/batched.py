"""Several prompts in one ``generate`` call: the throughput path of ``serve`` and RL sampling.

On a CPU, decoding one sequence leaves most of each matmul's bandwidth unused; decoding eight
at once costs little more per step than one (``bench/inference.py`` measures it). Prompts are
left-padded to the longest; each row keeps its own limits: its own ``max_new_tokens``, stop
strings, cancel event and token callback, enforced by one stopping criterion that answers
per row, so a finished row stops counting while the others go on. Rows share the sampling
settings (``generate`` takes one temperature), which is why :class:`patchloop.llm.serving.server`
groups requests by them; a row with its own seed is drawn from its own generator
(:mod:`patchloop.llm.serving.row_sampling`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from patchloop.llm.errors import LLMError


@dataclass
class BatchRequest:
    prompt: list[int]
    max_new_tokens: int = 256
    stop: list[str] | None = None
    on_token: Callable[[int], None] | None = None
    cancel: threading.Event | None = None
    seed: int | None = None  # this row's own sampling seed (row_sampling)
    done_at: int | None = field(default=None, repr=False)  # generated length when this row finished


def request_finished(r: BatchRequest, new, eos_ids: set[int], tokenizer) -> bool:
    """Whether a row with generated tokens ``new`` (a list or a 1-d tensor) is done: its token
    limit, its cancel event, an end-of-sequence token, or one of its stop strings in the tail.
    Shared by :func:`generate_batch` and :mod:`patchloop.llm.serving.continuous`."""
    if len(new) >= r.max_new_tokens or (r.cancel is not None and r.cancel.is_set()):
        return True
    if len(new) and int(new[-1]) in eos_ids:
        return True
    if r.stop:
        tail = tokenizer.decode([int(t) for t in new[-32:]], skip_special_tokens=True)
        return any(s in tail for s in r.stop)
    return False


class _Rows:
    """Stopping criterion and streamer in one: both need to know which rows are finished."""

    def __init__(self, reqs: list[BatchRequest], width: int, tokenizer, eos_ids: set[int], torch):
        self.reqs, self.width, self.tok, self.eos, self.torch = reqs, width, tokenizer, eos_ids, torch
        self.seen_prompt = False
        self.steps = 0

    def __call__(self, input_ids, scores, **kwargs):
        n = input_ids.shape[1] - self.width
        flags = []
        for i, r in enumerate(self.reqs):
            if r.done_at is None and request_finished(r, input_ids[i, self.width:], self.eos, self.tok):
                r.done_at = n
            flags.append(r.done_at is not None)
        return self.torch.tensor(flags, dtype=self.torch.bool, device=input_ids.device)

    # streamer protocol
    def put(self, value) -> None:
        if not self.seen_prompt:
            self.seen_prompt = True
            return
        self.steps += 1  # this put carries generated token number ``steps`` of every row
        for r, t in zip(self.reqs, value.reshape(-1).tolist()):
            # the token that finished a row is still its own (criteria may run before the streamer)
            if r.on_token is not None and (r.done_at is None or r.done_at == self.steps):
                r.on_token(int(t))

    def end(self) -> None:
        pass


def generate_batch(lm, reqs: list[BatchRequest], *, temperature: float = 0.7, top_p: float = 1.0,
                   seed: int | None = None) -> list:
    """One :class:`patchloop.llm.serving.local.Generation` per request, in order."""
    from transformers import StoppingCriteriaList

    from patchloop.llm.serving.row_sampling import sampling_kwargs

    torch = lm._torch
    for r in reqs:
        if len(r.prompt) >= lm.context:
            raise LLMError(f"prompt is {len(r.prompt)} tokens but {lm.name} holds at most {lm.context}")
        r.max_new_tokens = max(1, min(int(r.max_new_tokens), lm.context - len(r.prompt)))
        r.done_at = None
    width = max(len(r.prompt) for r in reqs)
    ids = torch.full((len(reqs), width), lm.pad_id, dtype=torch.long)
    mask = torch.zeros((len(reqs), width), dtype=torch.long)
    for i, r in enumerate(reqs):
        ids[i, width - len(r.prompt):] = torch.tensor(r.prompt)
        mask[i, width - len(r.prompt):] = 1
    rows = _Rows(reqs, width, lm.tokenizer, lm.eos_ids, torch)
    if seed is not None:
        torch.manual_seed(seed)  # before the unseeded rows draw their seeds
    kw, chosen = sampling_kwargs([r.seed for r in reqs], temperature, top_p, torch)
    kw.update({"max_new_tokens": max(r.max_new_tokens for r in reqs), "eos_token_id": sorted(lm.eos_ids),
               "pad_token_id": lm.pad_id, "return_dict_in_generate": True,
               "stopping_criteria": StoppingCriteriaList([rows]), "streamer": rows})
    with lm._lock, torch.inference_mode():
        out = lm.model.generate(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), **kw)
    logprobs = chosen.of(out.sequences)
    return [_row_result(lm, out.sequences[i], logprobs[i], r, width) for i, r in enumerate(reqs)]


def _row_result(lm, row, logprobs, r: BatchRequest, width: int):
    """One request's generation from its row of ``sequences`` and of the chosen logprobs."""
    new = row[width:].tolist()
    n = len(new) if r.done_at is None else min(r.done_at, len(new))
    for j, t in enumerate(new[:n]):
        if t in lm.eos_ids:
            n = j + 1
            break
    return lm.generation(new[:n], logprobs[:n], len(r.prompt), r.stop)
