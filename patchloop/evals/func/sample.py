"""Samples of a checkpoint on function tasks, through the one generation interface.

``eval func --model``, the demo and the learning benchmarks sample here, on whichever engine
``--engine`` names (``auto``: the fastest this machine has, see
:mod:`patchloop.llm.generation.engines`). Chat prompts end where the grader stops reading
(:func:`patchloop.evals.extract.answer_settled`), so no engine spends time on prose after the
code and none cuts off a function the grader would have kept.

Resumable: samples are appended as each completion finishes; a rerun with the same settings
makes only the missing ones, and a rerun with other settings (engine and dtype included) is
refused, naming what differs, rather than mixed into one file.
"""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

from patchloop.evals.extract import answer_settled, extract_completion
from patchloop.evals.prompts import model_prompt, prompt_record
from patchloop.llm.generation import request_seed
from patchloop.types import append_jsonl, drop_torn_line, iter_jsonl, write_json

log = logging.getLogger(__name__)

STOP_RULE = "answer_settled/1: a closed python block defining the entry point (chat); eos or the limit"


def sample_completions(model: str, tasks: list[Any], out_path: str | Path, *, engine: str = "auto",
                       n_samples: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                       max_new_tokens: int = 512, prompt_format: str = "chat", seed: int = 0,
                       batch_size: int = 16, progress: bool = True, generator=None) -> dict[str, Any]:
    """Write ``n_samples`` completions per task to ``out_path`` (eval-func samples JSONL) and
    return the settings with the engine's ``info`` and the sampling wall time. ``generator``:
    an open one to reuse (the caller closes it), else one is opened and closed here."""
    if n_samples < 1:
        raise ValueError("n_samples must be at least 1")
    if n_samples > 1 and temperature <= 0:
        raise ValueError("several samples per task need --temperature > 0 (greedy decoding repeats itself)")
    if prompt_format not in ("completion", "chat"):
        raise ValueError(f"unknown prompt format {prompt_format!r} (completion, chat)")
    out_path = Path(out_path)
    settings = {"model": str(model), "n_samples": n_samples, "temperature": temperature, "top_p": top_p,
                "max_new_tokens": max_new_tokens, "prompt_format": prompt_format, "seed": seed,
                "decoding": "sampling" if temperature > 0 else "greedy", "prompt": prompt_record(prompt_format),
                "stop": STOP_RULE if prompt_format == "chat" else "eos"}
    have = samples_done(out_path)
    todo = [(t, j) for t in tasks for j in range(n_samples) if (t.task_id, j) not in have]
    settings_path = out_path.with_name(out_path.name + ".settings.json")
    if not todo and settings_path.exists():
        return check_sample_settings(settings_path, settings, out_path)
    own = generator is None
    if own:
        from patchloop.evals.waiting import alive
        from patchloop.llm.generation.engines import open_generator

        with alive(f"starting the {engine} engine on {model}", progress):  # a server's start takes minutes
            generator = open_generator(engine, model, batch_size=batch_size, log_dir=out_path.parent / "engine")
    try:
        settings["engine"] = generator.info
        spent = check_sample_settings(settings_path, settings, out_path).get("sampling_wall_s", 0.0) \
            if settings_path.exists() else 0.0
        write_json(settings_path, {**settings, "sampling_wall_s": spent})
        t0 = time.monotonic()
        try:
            _run(generator, todo, out_path, settings, progress)
        finally:  # a failed or killed pass still counts its time: a resumed run adds to it
            spent = round(spent + time.monotonic() - t0, 3)
            write_json(settings_path, {**settings, "sampling_wall_s": spent})
    finally:
        if own:
            generator.close()
    return {**settings, "sampling_wall_s": spent}


def _run(generator, todo: list, out_path: Path, settings: dict, progress: bool) -> None:
    from patchloop.llm.generation import GenRequest

    reqs, keep = [], []
    context = getattr(generator, "context", None)
    for t, j in todo:
        ids = generator.render(model_prompt(t.prompt, settings["prompt_format"]))
        if context and len(ids) + settings["max_new_tokens"] > context:
            why = (f"prompt of {len(ids)} tokens + {settings['max_new_tokens']} new tokens exceeds the model's "
                   f"context of {context}")
            log.warning("%s sample %d: %s", t.task_id, j, why)  # recorded as an empty answer: it fails
            append_jsonl(out_path, {"task_id": t.task_id, "sample": j, "raw": "", "completion": "", "error": why})
            continue
        rule = partial(answer_settled, entry_point=t.entry_point) if settings["prompt_format"] == "chat" else None
        # Seeded by task and sample: a resumed run draws what the whole one would have.
        reqs.append(GenRequest(ids, max_tokens=settings["max_new_tokens"], temperature=settings["temperature"],
                               top_p=settings["top_p"], seed=request_seed(settings["seed"], t.task_id, j)
                               if settings["temperature"] > 0 else None, settled=rule))
        keep.append((t, j))
    generate_into(generator, reqs, [(t.task_id, j) for t, j in keep], out_path, progress,
                  lambda i, res: {"completion": extract_completion(res.text, prompt=keep[i][0].prompt,
                                                                   entry_point=keep[i][0].entry_point)})


def generate_into(generator, reqs: list, names: list[tuple[str, int]], out_path: Path, progress: bool,
                  extra=None) -> None:
    """Run ``reqs`` and append each finished one to ``out_path`` as it comes (``task_id``,
    ``sample``, ``raw``, ``finish_reason``, ``tokens`` and ``extra(i, result)``'s fields); a
    failed one is not written (a rerun makes it) and, after the batch, one ``GenerationError``
    counts them and names the first."""
    from patchloop.evals.func.evaluate import progress_bar
    from patchloop.llm.generation import GenerationError

    advance, bar = progress_bar(progress, len(reqs), f"sampling ({generator.info.get('engine', generator.name)})")
    failed: list[str] = []

    def write(i: int, res) -> None:
        task_id, j = names[i]
        advance(1)
        if res.error:
            log.warning("%s sample %d: %s", task_id, j, res.error)
            failed.append(f"{task_id} sample {j}: {res.error}")
            return
        append_jsonl(out_path, {"task_id": task_id, "sample": j, "raw": res.text, "finish_reason": res.finish_reason,
                                "tokens": len(res.token_ids), **(extra(i, res) if extra else {})})

    try:
        generator.generate(reqs, on_result=write)
    finally:
        if bar is not None:
            bar.stop()
    if failed:
        raise GenerationError(f"{len(failed)} of {len(reqs)} samples failed (first: {failed[0]}); the finished "
                              f"ones are kept in {out_path} and a rerun makes the rest")


def samples_done(out_path: Path) -> set[tuple[str, int]]:
    """The (task, sample) pairs already written: engines finish out of order, so a kill can
    leave sample 1 of a task without sample 0, and a resume makes exactly the missing ones."""
    have: set[tuple[str, int]] = set()
    if out_path.exists():
        drop_torn_line(out_path)  # a kill mid-write: that sample is made again, and no grader reads half of it
        for rec in iter_jsonl(out_path, skip_bad=True):
            have.add((str(rec.get("task_id")), int(rec.get("sample") or 0)))
    return have


def check_sample_settings(settings_path: Path, settings: dict, out_path: Path) -> dict:
    """The settings file's content when it matches ``settings`` (engine info compared only
    on what decides outputs: engine, dtype, versions); else a ValueError naming what differs."""
    before = json.loads(settings_path.read_text())
    decisive = [k for k in settings if k != "engine"]
    changed = sorted(k for k in decisive if before.get(k) != settings[k])
    if "engine" in settings and "engine" in before:
        old, new = before["engine"], settings["engine"]
        changed += [f"engine.{k}" for k in ("engine", "engine_version", "dtype", "torch", "transformers")
                    if old.get(k) != new.get(k)]
    if changed:
        raise ValueError(f"{out_path} was sampled with other settings ({', '.join(changed)}); "
                         "use another --out or delete it")
    return before
