"""RFT and DPO sampling through the generation interface (``sampling.engine`` other than ``model``).

The groups of k completions per training prompt are requested from an engine (vLLM for a
CPU, a GPU's vLLM, in process) instead of the trainer's own model: every request is in flight
at once, so the engine batches across prompts, and a chat answer ends where the grader stops
reading (:func:`patchloop.evals.extract.answer_settled`), not at the first closed block, so a
helper written in its own block before the function is kept, as evaluation keeps it. A
completion-format answer runs to end-of-sequence or the limit: the grader keeps a helper after
a body too.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from patchloop.evals.extract import answer_settled
from patchloop.llm.generation import request_seed


def open_sampler(cfg):
    """The engine for the start model of an RFT/DPO run (close it when done)."""
    from patchloop.llm.generation.engines import open_generator

    if cfg.model.adapter:
        raise ValueError("sampling.engine: give the start as one run or checkpoint directory "
                         "(model.name_or_path), not model.adapter")
    return open_generator(cfg.sampling.engine, cfg.model.name_or_path, log_dir=f"{cfg.train.output_dir}/engine")


def engine_groups(gen, rows: list[dict], prompts: list[Any], s, prompt_format: str, seed: int) -> list[list[str]]:
    """``s.num_samples`` completions per prompt from ``gen``; a failed request raises (one line)."""
    from patchloop.llm.generation import GenRequest

    reqs = []
    for i, (row, prompt) in enumerate(zip(rows, prompts)):
        ids = gen.render(prompt)
        rule = partial(answer_settled, entry_point=row.get("entry_point") or "") \
            if prompt_format == "chat" and s.stop_at_code_end else None
        for j in range(s.num_samples):
            reqs.append(GenRequest(ids, max_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p,
                                   seed=request_seed(seed, i, j), settled=rule))
    results = gen.generate(reqs)
    failed = [r.error for r in results if r.error]
    if failed:
        raise RuntimeError(f"sampling: {len(failed)} of {len(results)} generations failed: {failed[0]}")
    k = s.num_samples
    return [[r.text for r in results[i * k:(i + 1) * k]] for i in range(len(rows))]
