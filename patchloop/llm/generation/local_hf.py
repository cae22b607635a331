"""The in-process ``Generator``: batched ``transformers.generate`` on a local checkpoint.

The reference engine: no server, no second venv, the trained policy's own arithmetic (so no
importance-sampling correction is needed). It is the slow path on a CPU (rows are padded to
the longest, a finished row waits for the batch), kept for the tiny model, for machines with
no other engine, and as the baseline the engine benchmark measures against.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from patchloop.llm.generation import GenRequest, GenResult


class LocalHFGenerator:
    """``generate`` in batches of ``batch_size`` rows sharing temperature and top_p."""

    name = "hf"

    def __init__(self, model_path: str, *, batch_size: int = 16, info: dict[str, Any] | None = None):
        from patchloop.llm.generation.tokens import load_tokenizer
        from patchloop.llm.serving.hf_load import load_merged

        self.model, dtype, tokenizer_dir = load_merged(model_path)
        self.tokenizer = load_tokenizer(tokenizer_dir)
        self.batch_size = max(1, int(batch_size))
        self.context = getattr(self.model.config, "max_position_embeddings", None)
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        configured = configured if isinstance(configured, list) else [configured]
        self.eos_ids = {t for t in [self.tokenizer.eos_token_id, *configured] if t is not None}
        self.info = {**(info or {}), "dtype": dtype}
        self._lock = threading.Lock()

    def render(self, prompt: str | list[dict]) -> list[int]:
        from patchloop.llm.generation.tokens import render_prompt

        return render_prompt(self.tokenizer, prompt)

    def generate(self, requests: list[GenRequest],
                 on_result: Callable[[int, GenResult], None] | None = None) -> list[GenResult]:
        results: list[GenResult | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.adapter, r.temperature, r.top_p, r.max_tokens), []).append(i)
        with self._lock:
            for idx in groups.values():
                for b in range(0, len(idx), self.batch_size):
                    part = idx[b:b + self.batch_size]
                    for i, res in zip(part, self._batch([requests[i] for i in part])):
                        results[i] = res
                        if on_result is not None:
                            on_result(i, res)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self.model = None

    def _use_adapter(self, path: str | None):
        """The model to generate with: the base (adapters disabled) or ``path``'s adapter,
        loaded once under the hash of its files (a new optimiser step is a new adapter)."""
        import contextlib

        from peft import PeftModel

        from patchloop.llm.generation.adapters import check_adapter

        if path is None:
            return self.model.disable_adapter() if isinstance(self.model, PeftModel) else contextlib.nullcontext()
        name = "a" + check_adapter(path, self.model.config.to_dict())
        if not isinstance(self.model, PeftModel):
            self.model = PeftModel.from_pretrained(self.model, path, adapter_name=name).eval()
        elif name not in self.model.peft_config:
            self.model.load_adapter(path, adapter_name=name)
        self.model.set_adapter(name)
        for old in [n for n in self.model.peft_config if n != name][:-1]:  # keep the newest two
            self.model.delete_adapter(old)
        return contextlib.nullcontext()

    def _batch(self, reqs: list[GenRequest]) -> list[GenResult]:
        import torch
        from transformers import StoppingCriteriaList

        first = reqs[0]
        torch.manual_seed(int(first.seed or 0))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        width = max(len(r.prompt_ids) for r in reqs)
        ids = torch.tensor([[pad] * (width - len(r.prompt_ids)) + list(r.prompt_ids) for r in reqs])
        mask = torch.tensor([[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in reqs])
        stop = _Settled(self.tokenizer, reqs, width)
        sample = first.temperature > 0
        with torch.no_grad(), self._use_adapter(first.adapter):
            out = self.model.generate(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                                      max_new_tokens=first.max_tokens, do_sample=sample,
                                      temperature=first.temperature if sample else None,
                                      top_p=first.top_p if sample else None, top_k=0 if sample else None,
                                      stopping_criteria=StoppingCriteriaList([stop]), pad_token_id=pad,
                                      output_scores=True, return_dict_in_generate=True)
        # scores are the logits after temperature and top-p: the distribution each token was drawn from
        logps = torch.stack(out.scores, dim=1).float().log_softmax(-1)
        return [self._result(r, out.sequences[i, width:], logps[i], stop.done.get(i)) for i, r in enumerate(reqs)]

    def _result(self, req: GenRequest, new, logp, settled_at: int | None) -> GenResult:
        eos = self.eos_ids
        ids = [int(t) for t in new.tolist()]
        end = settled_at if settled_at is not None else len(ids)
        for j, t in enumerate(ids[:end]):
            if t in eos:
                end, finish = j, "stop"
                break
        else:
            finish = "stop" if settled_at is not None else ("length" if end >= req.max_tokens else "stop")
        ids = ids[:end]
        lps = [round(float(logp[j, t]), 6) if math.isfinite(float(logp[j, t])) else math.nan for j, t in enumerate(ids)]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        for s in req.stop or ():
            if s in text:
                text, finish = text[: text.index(s)], "stop"
        return GenResult(text, ids, lps, finish, len(req.prompt_ids))


class _Settled:
    """Stopping criterion: a row is done once its request's ``settled`` holds on its text;
    ``done[i]`` is the number of new tokens it had then."""

    def __init__(self, tokenizer, reqs: list[GenRequest], width: int):
        self.tok, self.reqs, self.width = tokenizer, reqs, width
        self.done: dict[int, int] = {}

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        n = input_ids.shape[1] - self.width
        flags = []
        for i, r in enumerate(self.reqs):
            if i not in self.done and r.settled is not None:
                if r.settled(self.tok.decode(input_ids[i, self.width:].tolist(), skip_special_tokens=True)):
                    self.done[i] = n
            flags.append(i in self.done)
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)
