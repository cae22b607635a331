"""Continuous batching on a local transformers model: a request joins a batch that is already
decoding, and leaves it at the step it finishes.

``generate_batch`` (``model.generate`` under it) decodes until its longest row ends, and a
request that arrives meanwhile waits for all of it. In the 1.5B teacher's datagen run the
replies averaged ~240 of their 512 tokens, so about half of the row-steps went to rows that
had already finished. Here a :class:`RunningBatch` keeps one KV cache for the rows in flight,
left-padded to the longest (the attention mask hides the padding, and each row's positions are
its own), and each step feeds every row its last token. A new request is prefilled alone,
extending the KV cache of its conversation's earlier turn where one is kept
(:mod:`patchloop.llm.serving.prefix_cache`), and its cache is padded into the batch; a finished row's
cache is taken out (and kept for that conversation's next turn), and columns that only pad
are cut. Each row samples with its own temperature, top-p and seeded generator, drawing the
same random numbers as :mod:`patchloop.llm.serving.row_sampling` does inside ``generate``, so rows
need not share settings to share a batch.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from patchloop.llm.errors import LLMError
from patchloop.llm.serving.batched import BatchRequest, request_finished
from patchloop.llm.serving.row_sampling import candidates, draw, seeded_generator


@dataclass
class Row:
    """One request in flight: what it asked for and what it has drawn so far."""

    req: BatchRequest
    temperature: float = 0.0
    top_p: float = 1.0
    owner: Any = None  # the caller's handle for this request
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    cached: int = 0  # prompt tokens whose KV came from the prefix cache
    done: bool = False
    generator: Any = None


def kv_bytes_per_token(model) -> int:
    """Bytes of keys and values one token of one row holds, over all layers."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = int(getattr(cfg, "num_attention_heads", 1) or 1)
    head_dim = int(getattr(cfg, "head_dim", 0) or cfg.hidden_size // heads)
    kv_heads = int(getattr(cfg, "num_key_value_heads", 0) or heads)
    return 2 * int(cfg.num_hidden_layers) * kv_heads * head_dim * next(model.parameters()).element_size()


def kv_budget_bytes() -> int:
    """``PATCHLOOP_KV_GB`` (GiB), or a quarter of the machine's memory."""
    gb = os.environ.get("PATCHLOOP_KV_GB", "").strip()
    if gb:
        return int(float(gb) * 2**30)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def _left_pad(t, width: int, dim: int, torch):
    """``t`` with zeros put before its entries along ``dim`` up to ``width``."""
    short = width - t.shape[dim]
    if short <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = short
    return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)


class RunningBatch:
    """The rows decoding together on ``lm`` (a :class:`patchloop.llm.serving.local.LocalModel`)."""

    def __init__(self, lm):
        self.lm, self.torch = lm, lm._torch
        self.rows: list[Row] = []
        self.cache = None  # a DynamicCache of (rows, kv heads, time, head dim) per layer
        self.mask = None  # (rows, time): 1 where a row has a token
        self.steps = self.row_steps = 0  # decode steps run, and rows fed over them
        self.kv_bytes_per_token = kv_bytes_per_token(lm.model)

    def __len__(self) -> int:
        return len(self.rows)

    def fits(self, prompt_tokens: int, max_new_tokens: int) -> bool:
        """Whether a request can join without the KV cache outgrowing its budget. Every row is
        padded to the widest, so one long prompt makes every row cost its length: 32 rows of
        the 1.5B padded to 32k tokens would need 29 GB. A request that does not fit waits for
        rows to leave; an empty batch takes any request (alone it costs what it costs)."""
        if not self.rows:
            return True
        left = max(row.req.max_new_tokens - len(row.tokens) for row in self.rows)
        width = max(self.mask.shape[1] + left, prompt_tokens + max_new_tokens)
        return (len(self.rows) + 1) * width * self.kv_bytes_per_token <= kv_budget_bytes()

    def admit(self, row: Row) -> list[Row]:
        """Prefill ``row`` and draw its first token. It joins the batch unless that token
        already finished it; the rows finished (it, or none) are returned."""
        lm, torch, r = self.lm, self.torch, row.req
        if len(r.prompt) >= lm.context:
            raise LLMError(f"prompt is {len(r.prompt)} tokens but {lm.name} holds at most {lm.context}")
        r.max_new_tokens = max(1, min(int(r.max_new_tokens), lm.context - len(r.prompt)))
        if row.temperature > 0:
            row.generator = seeded_generator(r.seed, lm.device, torch)
        past, row.cached = lm.prefix_cache.take(r.prompt) if lm.prefix_cache.slots else (None, 0)
        n = len(r.prompt)
        out = self._forward(
            input_ids=torch.tensor([r.prompt[row.cached:]], device=lm.device),
            attention_mask=torch.ones((1, n), dtype=torch.long, device=lm.device),
            position_ids=torch.arange(row.cached, n, device=lm.device)[None],
            past_key_values=past, logits_to_keep=1)
        logits = out.logits[:, -1].float()
        self._take(row, int(logits.argmax()), logits[0], torch.log_softmax(logits, dim=-1)[0])
        if row.done:
            self._keep_prefix(row, [(layer.keys, layer.values) for layer in out.past_key_values.layers])
            return [row]
        self._join(row, out.past_key_values)
        return []

    def step(self) -> list[Row]:
        """One token for every row; the rows that finished with it leave and are returned."""
        if not self.rows:
            return []
        torch, lm = self.torch, self.lm
        positions = self.mask.sum(dim=1, keepdim=True)
        self.mask = torch.cat([self.mask, torch.ones_like(positions)], dim=1)
        out = self._forward(
            input_ids=torch.tensor([[row.tokens[-1]] for row in self.rows], device=lm.device),
            attention_mask=self.mask, position_ids=positions, past_key_values=self.cache)
        logits = out.logits[:, -1].float()
        logprobs, greedy = torch.log_softmax(logits, dim=-1), logits.argmax(dim=-1).tolist()
        for i, row in enumerate(self.rows):
            self._take(row, greedy[i], logits[i], logprobs[i])
        self.steps += 1
        self.row_steps += len(self.rows)
        done = [i for i, row in enumerate(self.rows) if row.done]
        return self._leave(done) if done else []

    def fail(self) -> list[Row]:
        """Every row, the batch emptied (after an error in a step, which leaves its state unknown)."""
        rows, self.rows, self.cache, self.mask = self.rows, [], None, None
        return rows

    def result(self, row: Row):
        """The :class:`patchloop.llm.serving.local.Generation` of a finished row."""
        return self.lm.generation(row.tokens, row.logprobs, len(row.req.prompt), row.req.stop,
                                  {"cached_prompt_tokens": row.cached})

    def _forward(self, **inputs):
        lm = self.lm
        with lm._lock, self.torch.inference_mode():
            t0 = time.perf_counter()
            out = lm.model(use_cache=True, **inputs)
            lm.generate_s += time.perf_counter() - t0
        return out

    def _take(self, row: Row, greedy: int, logits, logprobs) -> None:
        """Draw ``row``'s next token from its ``logits`` and note whether it is finished."""
        if row.temperature > 0:
            probs = self.torch.softmax(logits / row.temperature, dim=-1)
            [(p, ids)] = candidates(probs[None], row.top_p, self.torch)
            token = draw(p, ids, row.generator, self.torch)
        else:
            token = greedy
        row.tokens.append(token)
        row.logprobs.append(float(logprobs[token]))
        if row.req.on_token is not None:
            row.req.on_token(token)
        row.done = request_finished(row.req, row.tokens, self.lm.eos_ids, self.lm.tokenizer)

    def _join(self, row: Row, cache) -> None:
        """Pad the new row's cache and the batch's to one width and stack them."""
        torch = self.torch
        one = torch.ones((1, cache.get_seq_length()), dtype=torch.long, device=self.lm.device)
        if not self.rows:
            self.cache, self.mask = cache, one
        else:
            width = max(one.shape[1], self.mask.shape[1])
            for old, new in zip(self.cache.layers, cache.layers):
                old.keys = torch.cat([_left_pad(old.keys, width, 2, torch), _left_pad(new.keys, width, 2, torch)])
                old.values = torch.cat([_left_pad(old.values, width, 2, torch), _left_pad(new.values, width, 2, torch)])
            self.mask = torch.cat([_left_pad(self.mask, width, 1, torch), _left_pad(one, width, 1, torch)])
        self.rows.append(row)

    def _leave(self, done: list[int]) -> list[Row]:
        """Take the finished rows out (their caches go to the prefix cache), then cut the
        columns that are padding for every row left."""
        torch, width = self.torch, self.mask.shape[1]
        for i in done:
            n = int(self.mask[i].sum())  # right-aligned: the row's real tokens are its last n columns
            self._keep_prefix(self.rows[i], [(layer.keys[i:i + 1, :, width - n:], layer.values[i:i + 1, :, width - n:])
                                             for layer in self.cache.layers])
        finished = [self.rows[i] for i in done]
        keep = [i for i in range(len(self.rows)) if i not in set(done)]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache = self.mask = None
            return finished
        index = torch.tensor(keep, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask = self.mask[index]
        lead = width - int(self.mask.sum(dim=1).max())
        if lead > 0:
            self.mask = self.mask[:, lead:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, lead:], layer.values[:, :, lead:]
        return finished

    def _keep_prefix(self, row: Row, kv: list[tuple]) -> None:
        """Offer a finished row's cache (prompt and reply but the last token) for its next turn."""
        lm = self.lm
        if not lm.prefix_cache.slots:
            return
        from transformers import DynamicCache

        # built from copies, so the batch's tensors are not held alive by a kept row
        cache = DynamicCache(ddp_cache_data=[(k.clone(), v.clone()) for k, v in kv], config=lm.model.config)
        lm.prefix_cache.put(row.req.prompt + row.tokens, cache)
