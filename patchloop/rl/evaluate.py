"""Held-out pass@1 of a checkpoint on function tasks: generate locally, grade with the evals grader.

Used by the demo, the learning benchmark and the trainers' before/after figures. Generation is
batched ``transformers.generate`` (greedy for pass@1 unless a temperature is given); every
sampling setting is stored next to the results, which are written per task as JSONL.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from patchloop.evals.extract import extract_completion
from patchloop.evals.prompts import prompt_record
from patchloop.evals.waiting import alive
from patchloop.rl.data import load_split, model_prompt, row_to_task, select
from patchloop.types import append_jsonl, end_torn_line, iter_jsonl, write_json

log = logging.getLogger(__name__)


def load_for_inference(path: str | Path, cpu_threads: int | None = None):
    """Model (LoRA adapters merged) and a left-padding tokenizer for batched generation."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from patchloop.llm.catalog import resolve_model_path
    from patchloop.llm.checkpoints import resolve_checkpoint
    from patchloop.llm.device import pick_device
    from patchloop.rl.common import has_cuda, set_cpu_threads

    set_cpu_threads(cpu_threads)
    base, adapter = resolve_checkpoint(resolve_model_path(str(path)))
    tok = AutoTokenizer.from_pretrained(adapter or base)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    _, dtype = pick_device(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model.to("cuda" if has_cuda() else "cpu").eval()
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
    from patchloop.evals.func import grade_function_batch

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
                       progress: bool = True) -> dict[str, Any]:
    """Write ``n_samples`` completions per task (``FunctionTask``) to ``out_path`` as eval-func
    samples JSONL (``task_id``, ``completion``), batch by batch, and return the sampling settings.

    Resumable: a rerun with the same settings keeps the samples already written and makes only
    the missing ones; different settings (the prompt template's version included) for the same
    file are refused rather than mixed. The settings and the sampling wall time (summed over the
    runs that made the file) go to ``<out_path>.settings.json`` so a score says how it was sampled.
    Each line keeps the model's ``raw`` text, which is what the grader reads, as the reward does,
    and the code extracted from it as ``completion``.
    """
    from patchloop.evals.func_eval import progress_bar

    if n_samples < 1:
        raise ValueError("n_samples must be at least 1")
    if n_samples > 1 and temperature <= 0:
        raise ValueError("several samples per task need --temperature > 0 (greedy decoding repeats itself)")
    if prompt_format not in ("completion", "chat"):
        raise ValueError(f"unknown prompt format {prompt_format!r} (completion, chat)")
    out_path = Path(out_path)
    settings = {"model": str(model_path), "n_samples": n_samples, "temperature": temperature, "top_p": top_p,
                "max_new_tokens": max_new_tokens, "prompt_format": prompt_format, "seed": seed,
                "decoding": "sampling" if temperature > 0 else "greedy", "prompt": prompt_record(prompt_format),
                "stop": "closing fence of the first code block, or eos" if prompt_format == "chat" else "eos"}
    settings_path = out_path.with_name(out_path.name + ".settings.json")
    spent = _settings_match(out_path, settings_path, settings)
    have: dict[str, int] = defaultdict(int)
    if out_path.exists():
        end_torn_line(out_path)  # a kill mid-write: the next sample must not glue onto the torn line
        for rec in iter_jsonl(out_path, skip_bad=True):
            have[str(rec.get("task_id"))] += 1
    write_json(settings_path, {**settings, "sampling_wall_s": spent})
    todo = [(t, j) for t in tasks for j in range(have[t.task_id], n_samples)]
    start = time.monotonic()
    if todo:
        with alive(f"loading {model_path}", progress):
            model, tok = load_for_inference(model_path)
        todo = _drop_overlong(todo, tok, getattr(model.config, "max_position_embeddings", None),
                              max_new_tokens, prompt_format, out_path)
        advance, bar = progress_bar(progress, len(todo), "sampling")
        try:
            for b in range(0, len(todo), batch_size):
                part = todo[b:b + batch_size]
                # Seeded by the first sample's position: a resumed run draws what the
                # uninterrupted one would have for the batches it still has to make.
                texts = generate(model, tok, [model_prompt(t.prompt, prompt_format) for t, _ in part],
                                 max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                 batch_size=batch_size, seed=seed * 1_000_003 + b,
                                 stop_after_code=prompt_format == "chat")
                for (t, j), text in zip(part, texts):
                    # What the grader will read from `raw`, stored as the completion for other tools.
                    code = extract_completion(text, prompt=t.prompt, entry_point=t.entry_point)
                    append_jsonl(out_path, {"task_id": t.task_id, "completion": code, "sample": j, "raw": text})
                advance(len(part))
        finally:
            if bar is not None:
                bar.stop()
            spent += time.monotonic() - start  # wall time of every run that made these samples
            write_json(settings_path, {**settings, "sampling_wall_s": round(spent, 3)})
    return {**settings, "sampling_wall_s": round(spent, 3)}


def _settings_match(out_path: Path, settings_path: Path, settings: dict) -> float:
    """Refuse to add to samples made with other settings; the sampling time spent so far."""
    if not (out_path.exists() and settings_path.exists()):
        return 0.0
    before = json.loads(settings_path.read_text())
    if {k: before.get(k) for k in settings} != settings:
        changed = sorted(k for k in settings if before.get(k) != settings[k])
        raise ValueError(f"{out_path} was sampled with other settings ({', '.join(changed)}); "
                         "use another --out or delete it")
    return float(before.get("sampling_wall_s") or 0.0)


def _drop_overlong(todo: list, tok, context: int | None, max_new_tokens: int, prompt_format: str, out_path: Path):
    """Samples whose prompt leaves no room for ``max_new_tokens`` in the model's context are
    recorded as empty (they fail) with the reason, one warning line each; the rest go on."""
    if not context:
        return todo
    keep = []
    for t, j in todo:
        n = len(tok(prompt_text(tok, model_prompt(t.prompt, prompt_format)), add_special_tokens=False)["input_ids"])
        if n + max_new_tokens <= context:
            keep.append((t, j))
            continue
        why = f"prompt of {n} tokens + {max_new_tokens} new tokens exceeds the model's context of {context}"
        log.warning("%s sample %d: %s", t.task_id, j, why)
        append_jsonl(out_path, {"task_id": t.task_id, "completion": "", "sample": j, "error": why})
    return keep
