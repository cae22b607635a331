"""Held-out pass@1 of a checkpoint on function tasks: generate locally, grade with the evals grader.

Used by the demo, the learning benchmark and the trainers' before/after figures. Generation is
batched ``transformers.generate`` (greedy for pass@1 unless a temperature is given); every
sampling setting is stored next to the results, which are written per task as JSONL.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from patchloop.evals.extract import extract_completion
from patchloop.evals.prompts import prompt_record
from patchloop.rl.data import load_split, model_prompt, row_to_task, select
from patchloop.types import write_json

log = logging.getLogger(__name__)


def load_for_inference(path: str | Path, cpu_threads: int | None = None):
    """Model (LoRA adapters merged) and a left-padding tokenizer for batched generation."""
    from transformers import AutoTokenizer

    from patchloop.llm.serving.hf_load import load_merged
    from patchloop.rl.common import set_cpu_threads

    set_cpu_threads(cpu_threads)
    model, _, tokenizer_dir = load_merged(path)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def prompt_text(tok, prompt: Any) -> str:
    """What the model is given: a text prompt as is, a message list through the chat template."""
    return tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True) if isinstance(prompt, list) else prompt


def generate(model, tok, prompts: list[Any], *, max_new_tokens: int = 64, temperature: float = 0.0,
             top_p: float = 1.0, batch_size: int = 64, seed: int = 0, stop_after_code: bool = False) -> list[str]:
    """One completion per prompt (text prompts, or chat message lists through the template).

    ``stop_after_code`` ends a row at the fence closing its first code block (chat replies):
    the prose after it is never graded."""
    import torch
    from transformers import StoppingCriteriaList

    from patchloop.llm.stopping import CodeBlockClosed

    torch.manual_seed(seed)
    texts = [prompt_text(tok, p) for p in prompts]
    out: list[str] = []
    for i in range(0, len(texts), batch_size):
        enc = tok(texts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        sample = temperature > 0
        stops = StoppingCriteriaList([CodeBlockClosed(tok, enc["input_ids"].shape[1])] if stop_after_code else [])
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=sample, stopping_criteria=stops,
                                 temperature=temperature if sample else None, top_p=top_p if sample else None,
                                 top_k=0 if sample else None, pad_token_id=tok.pad_token_id)
        out += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return out


def _stratified(rows: list[dict], k: int) -> list[dict]:
    """``k`` rows taken level by level in turn (sorted by id within a level), so a capped
    evaluation still measures every level instead of only the lowest."""
    by: dict[int, list[dict]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r["task_id"]):
        by[int(r.get("level") or 0)].append(r)
    out: list[dict] = []
    while len(out) < k and any(by.values()):
        for lv in sorted(by):
            if by[lv] and len(out) < k:
                out.append(by[lv].pop(0))
    return out


def evaluate_model(model_path: str | Path, data_path: str | Path, out_dir: str | Path, *, split: str = "heldout",
                   prompt_format: str = "completion", levels: list[int] | None = None,
                   families: list[str] | None = None, max_new_tokens: int = 64, temperature: float = 0.0,
                   backend: str = "auto", max_tasks: int | None = None, seed: int = 0, model=None) -> dict:
    """pass@1 overall and per level; writes ``samples.jsonl`` and ``summary.json`` in ``out_dir``.

    A finished ``summary.json`` for the same settings is returned as is (resumable stages).
    """
    from patchloop.evals.func.grade import grade_function_batch

    out = Path(out_dir)
    settings = {"model": str(model_path), "data": str(data_path), "split": split, "levels": levels,
                "families": families, "max_new_tokens": max_new_tokens, "temperature": temperature,
                "prompt_format": prompt_format, "max_tasks": max_tasks, "seed": seed,
                "prompt": prompt_record(prompt_format)}
    done = out / "summary.json"
    if done.exists():
        prev = json.loads(done.read_text())
        if prev.get("settings") == settings:
            return prev
    rows = select(load_split(data_path, split), levels=levels, families=families, seed=seed)
    if max_tasks:
        rows = _stratified(rows, max_tasks)
    if model is None:
        model, tok = load_for_inference(model_path)
    else:
        model, tok = model
    texts = generate(model, tok, [model_prompt(r["prompt"], prompt_format) for r in rows],
                     max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    tasks = [row_to_task(r) for r in rows]
    # The grader reads the raw text (as the reward does); the extracted code is kept for reading.
    codes = [extract_completion(t, prompt=task.prompt, entry_point=task.entry_point) for t, task in zip(texts, tasks)]
    results = grade_function_batch(tasks, texts, backend=backend)
    per: dict[int, list[bool]] = defaultdict(list)
    infra = 0
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "samples.jsonl", "w", encoding="utf-8") as f:
        for r, code, res in zip(rows, codes, results):
            infra += res.infra_error
            per[int(r.get("level") or 0)].append(res.passed)
            f.write(json.dumps({"task_id": r["task_id"], "level": r.get("level"), "completion": code,
                                "status": res.status, "passed": res.passed}) + "\n")
    n = sum(len(v) for v in per.values())
    summary = {"settings": settings, "n": n, "infra_errors": infra,
               "pass@1": sum(sum(v) for v in per.values()) / max(1, n),
               "per_level": {str(k): sum(v) / len(v) for k, v in sorted(per.items())},
               "per_level_n": {str(k): len(v) for k, v in sorted(per.items())}}
    write_json(done, summary)
    return summary


def sample_completions(model_path: str | Path, tasks: list[Any], out_path: str | Path, *, n_samples: int = 1,
                       temperature: float = 0.0, top_p: float = 1.0, max_new_tokens: int = 256,
                       prompt_format: str = "completion", batch_size: int = 16, seed: int = 0,
                       progress: bool = True, engine: str = "auto") -> dict[str, Any]:
    """``n_samples`` completions per task written to ``out_path`` through the generation
    interface (:func:`patchloop.evals.func.sample.sample_completions`: resumable, refuses other
    settings, records the engine), for the training side's callers."""
    from patchloop.evals.func.sample import sample_completions as sample

    return sample(str(model_path), tasks, out_path, engine=engine, n_samples=n_samples, temperature=temperature,
                  top_p=top_p, max_new_tokens=max_new_tokens, prompt_format=prompt_format, seed=seed,
                  batch_size=batch_size, progress=progress)
