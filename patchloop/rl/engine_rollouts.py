"""GRPO rollouts through the generation interface, on-policy, via TRL's public ``rollout_func``.

TRL's own CPU path samples with ``transformers.generate`` inside the trainer: a group of
completions padded to the longest, no batching across requests. Here the trainer hands its
prompts to an engine (vLLM for a CPU, a GPU's vLLM, or in-process as the reference) and gets
back the sampled token ids and their log-probabilities.

On-policy: before the first rollout of each optimiser step the policy reaches the engine, so
it samples from the weights just trained (the time this takes is the step's ``sync_s``). An
engine that can reload weights in place (vLLM on a CPU, where its LoRA path is slow) gets the
adapter merged into the base weights (``llm.generation.weight_push``); any other gets the
LoRA adapter saved and named in every request (checked and loaded under the hash of its
files). A full fine-tune has no adapter to hand over and is refused.

Where an engine's arithmetic differs from the trainer's (bf16 kernels, another attention
implementation), the sampled log-probabilities differ from the policy's: with ``is_cap`` set,
each token is weighted by its truncated importance ratio (``rl.sampler_mismatch``: why and how
through TRL's public hook) and the mismatch is logged each step as ``sampling/*``.

A completion the grader's stop rule ended gets the end-of-turn token appended (log-probability
0, as a forced token), so it is trained as a finished reply, exactly as the reward reads it.
"""

from __future__ import annotations

import json
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

from patchloop.evals.extract import answer_settled


class EngineRollout:
    """A picklable ``rollout_func(prompts, trainer)``; ``entry_points`` maps a prompt (as JSON)
    to the function the grader looks for, so the stop rule knows when the answer is settled."""

    def __init__(self, generator, out_dir: str | Path, *, max_tokens: int, temperature: float, top_p: float,
                 entry_points: dict[str, str] | None = None, end_token_id: int | None = None, seed: int = 0,
                 timer=None, is_cap: float | None = None, settled=None, weight_sync: str = "auto"):
        self.gen, self.out = generator, Path(out_dir)
        self.max_tokens, self.temperature, self.top_p, self.seed = max_tokens, temperature, top_p, seed
        self.entry_points, self.end_id, self.timer, self.is_cap = entry_points or {}, end_token_id, timer, is_cap
        self.settled = settled  # the stop rule of prompts with no entry point (repair replies)
        self.pusher = None if weight_sync == "adapter" else getattr(generator, "weights", None)
        if weight_sync == "merged" and self.pusher is None:
            raise ValueError(f"weight_sync=merged: the {generator.name} engine cannot reload weights in place; "
                             "use weight_sync=adapter or auto")
        self._synced_step: int | None = None
        self._adapter: str | None = None  # the directory requests name (None: pushed weights)
        self._written: Path | None = None
        self.calls = 0

    def __call__(self, prompts: list[Any], trainer) -> dict[str, list]:
        from patchloop.llm.generation import GenRequest

        self._sync(trainer)
        reqs = []
        for i, p in enumerate(prompts):
            entry = self.entry_points.get(json.dumps(p, sort_keys=True))
            reqs.append(GenRequest(self.gen.render(p), max_tokens=self.max_tokens, temperature=self.temperature,
                                   top_p=self.top_p, adapter=self._adapter,
                                   seed=(self.seed * 1_000_003 + self.calls * 10_007 + i) % 2**31,
                                   settled=partial(answer_settled, entry_point=entry) if entry else self.settled))
        results = self.gen.generate(reqs)  # timed as the step's generation_s by the trainer's wrap
        self.calls += 1
        failed = [r.error for r in results if r.error]
        if failed:
            raise RuntimeError(f"rollout: {len(failed)} of {len(results)} generations failed: {failed[0]}")
        ids, lps, forced = [], [], []
        for r in results:
            settled_early = r.finish_reason == "stop" and self.end_id is not None and \
                (not r.token_ids or r.token_ids[-1] != self.end_id)
            ids.append(list(r.token_ids) + ([self.end_id] if settled_early else []))
            lps.append(list(r.logprobs) + ([0.0] if settled_early else []))
            forced.append([False] * len(r.token_ids) + ([True] if settled_early else []))
        out = {"prompt_ids": [q.prompt_ids for q in reqs], "completion_ids": ids, "logprobs": lps}
        if self.is_cap:
            out["env_mask"] = self._importance_weights(trainer, out, forced)
        return out

    def _importance_weights(self, trainer, out: dict, forced: list[list[bool]]) -> list[list[float]]:
        """Truncated importance weights of the sampled tokens (as ``env_mask``), the mismatch noted."""
        from patchloop.rl.sampler_mismatch import policy_logprobs, truncated_weights

        t0 = time.perf_counter()
        pad = getattr(trainer.processing_class, "pad_token_id", None) or 0
        train = policy_logprobs(trainer.model, out["prompt_ids"], out["completion_ids"],
                                temperature=self.temperature, pad_id=pad)
        weights, stats = truncated_weights(train, out["logprobs"], forced, cap=self.is_cap)
        if self.timer is not None:
            self.timer.add("is_s", time.perf_counter() - t0)
            self.timer.note(stats)
        return weights

    def _sync(self, trainer) -> None:
        """Hand the engine the policy of the current optimiser step (once per step): merged
        weights pushed in place, or the adapter saved for requests to name."""
        step = int(trainer.state.global_step)
        if step == self._synced_step:
            return
        t0 = time.perf_counter()
        model = trainer.accelerator.unwrap_model(trainer.model)
        if not hasattr(model, "peft_config"):
            raise ValueError("rollouts through an engine train a LoRA adapter (lora.enabled: true); "
                             "a full fine-tune has no adapter to hand the engine")
        where = self.out / f"step-{step}"
        pusher = self.pusher
        if pusher is not None:  # merged weights pushed in place: the base is the policy (weight_push)
            from patchloop.llm.generation.weight_push import save_merged

            save_merged(model, where, _torch_dtype(pusher.dtype))
            pusher.push(where)
        else:
            model.save_pretrained(str(where))
        if self._written and self._written != where:
            shutil.rmtree(self._written, ignore_errors=True)
        self._written, self._synced_step = where, step
        self._adapter = None if pusher is not None else str(where)
        if self.timer is not None:
            self.timer.add("sync_s", time.perf_counter() - t0)


def _torch_dtype(name: str):
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(name, torch.float32)

