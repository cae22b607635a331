"""Repair evaluation through the one generation interface: sample replies to repair rows
(``datagen repair``), grade each with :func:`patchloop.evals.repair.grade_repair`, summarise.

The same grader and extraction as the repair reward, the same engine as the function
benchmarks, and the grader's stop rule (:func:`patchloop.evals.extract.repair_settled`) on
every request, so a reply is cut where grading stops reading and nowhere else.

Both steps resume: samples are appended as they finish and a rerun with other settings is
refused (``evals.func.sample``'s guard); verdicts are appended per sample, a rerun grades only
what has none, and an infrastructure failure (verdict ``error``) is graded again rather than
kept as a wrong answer. The summary keeps per-task counts, so two runs compare paired by task.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from patchloop.evals.extract import repair_settled
from patchloop.evals.func.sample import check_sample_settings, generate_into, samples_done
from patchloop.evals.passk import mean_pass_at_k
from patchloop.evals.swe import DEFAULT_TIMEOUT
from patchloop.llm.generation import request_seed
from patchloop.types import RecordError, append_jsonl, drop_torn_line, iter_jsonl, write_json

STOP_RULE = "repair_settled/1: a closed python block that parses and defines a function; eos or the limit"


def load_rows(path: str | Path, on_error=None) -> list[dict]:
    """Repair rows of a JSONL file; a row without ``instance_id``, ``prompt`` or ``instance`` is
    reported through ``on_error`` (one line naming it) and left out."""
    rows = []
    for i, row in enumerate(iter_jsonl(path, skip_bad=True, on_error=on_error), 1):
        missing = [k for k in ("instance_id", "prompt", "instance") if not row.get(k)]
        if missing:
            if on_error:
                on_error(RecordError(f"{path}:{i}", f"not a repair row (no {', '.join(missing)})"))
            continue
        rows.append(row)
    return rows


def sample_repairs(model: str, rows: list[dict], out_path: str | Path, *, generator, n_samples: int = 1,
                   temperature: float = 0.0, top_p: float = 1.0, max_new_tokens: int = 768, seed: int = 0,
                   progress: bool = True) -> dict[str, Any]:
    """Append ``n_samples`` replies per row to ``out_path``; returns the settings with the
    engine's ``info`` and the sampling wall time (kept across resumes). ``generator=None`` is
    for an output that holds every reply already (``missing_replies`` is 0): nothing is
    sampled, and the engine is the one that made them."""
    if n_samples > 1 and temperature <= 0:
        raise ValueError("several samples per task need a temperature above 0 (greedy repeats itself)")
    out_path = Path(out_path)
    versions = sorted({str(r.get("prompt_version", "?")) for r in rows})
    settings = {"model": str(model), "n_samples": n_samples, "temperature": temperature, "top_p": top_p,
                "max_new_tokens": max_new_tokens, "seed": seed, "prompt": versions, "stop": STOP_RULE,
                "decoding": "sampling" if temperature > 0 else "greedy"}
    settings_path = out_path.with_name(out_path.name + ".settings.json")
    if generator is None:
        if missing_replies(rows, out_path, n_samples):
            raise ValueError(f"{out_path}: replies are missing and no engine was given to make them")
        settings["engine"] = json.loads(settings_path.read_text())["engine"]
    else:
        settings["engine"] = generator.info
    spent = check_sample_settings(settings_path, settings, out_path).get("sampling_wall_s", 0.0) \
        if settings_path.exists() else 0.0
    have = samples_done(out_path)
    todo = [(r, j) for r in rows for j in range(n_samples) if (r["instance_id"], j) not in have]
    write_json(settings_path, {**settings, "sampling_wall_s": spent})
    t0 = time.monotonic()
    try:
        if todo:
            _generate(generator, todo, out_path, settings, progress)
    finally:  # a killed pass still counts its time
        spent = round(spent + time.monotonic() - t0, 3)
        write_json(settings_path, {**settings, "sampling_wall_s": spent})
    return {**settings, "sampling_wall_s": spent}


def missing_replies(rows: list[dict], out_path: str | Path, n_samples: int) -> int:
    """How many replies ``out_path`` still lacks (all of them when it or its settings are absent)."""
    out_path = Path(out_path)
    if not out_path.with_name(out_path.name + ".settings.json").exists():
        return len(rows) * n_samples
    have = samples_done(out_path)
    return sum((r["instance_id"], j) not in have for r in rows for j in range(n_samples))


def _generate(generator, todo: list, out_path: Path, settings: dict, progress: bool) -> None:
    from patchloop.llm.generation import GenRequest

    reqs = [GenRequest(generator.render(r["prompt"]), max_tokens=settings["max_new_tokens"],
                       temperature=settings["temperature"], top_p=settings["top_p"], settled=repair_settled,
                       seed=request_seed(settings["seed"], r["instance_id"], j) if settings["temperature"] > 0
                       else None) for r, j in todo]
    generate_into(generator, reqs, [(r["instance_id"], j) for r, j in todo], out_path, progress)


def grade_repairs(rows: list[dict], samples_path: str | Path, results_path: str | Path, *, backend: str = "auto",
                  timeout: float = DEFAULT_TIMEOUT, workers: int = 2, progress: bool = True) -> list[dict]:
    """A verdict for every sample (appended as graded; kept ones reused unless ``error``)."""
    from patchloop.evals.func.evaluate import progress_bar

    by_id = {r["instance_id"]: r for r in rows}
    results_path = Path(results_path)
    kept = {}
    if results_path.exists():
        drop_torn_line(results_path)
        kept = {(g["task_id"], g["sample"]): g for g in iter_jsonl(results_path, skip_bad=True)
                if g.get("verdict") != "error"}
    samples = [s for s in iter_jsonl(samples_path, skip_bad=True) if s.get("task_id") in by_id]
    todo = [s for s in samples if (s["task_id"], int(s.get("sample") or 0)) not in kept]
    advance, bar = progress_bar(progress, len(samples), "grading repairs", completed=len(samples) - len(todo))
    lock = threading.Lock()
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            futures = [pool.submit(_grade_one, by_id[s["task_id"]], s, backend, timeout) for s in todo]
            for fut in as_completed(futures):
                verdict = fut.result()
                with lock:
                    append_jsonl(results_path, verdict)
                    kept[(verdict["task_id"], verdict["sample"])] = verdict
                advance(1)
    finally:
        if bar is not None:
            bar.stop()
    return [kept[k] for k in sorted(kept) if k[0] in by_id]


def _grade_one(row: dict, sample: dict, backend: str, timeout: float) -> dict:
    from patchloop.evals.repair import grade_repair, repair_task

    j = int(sample.get("sample") or 0)
    try:
        task = repair_task(row["instance"])
    except (ValueError, TypeError) as e:
        return {"task_id": row["instance_id"], "sample": j, "verdict": "error", "reason": f"unusable row: {e}"}
    res = grade_repair(task, sample.get("raw") or "", targets=row.get("targets") or (),
                       truncated=sample.get("finish_reason") == "length", backend=backend, timeout=timeout)
    return {"task_id": row["instance_id"], "sample": j, "verdict": res.verdict, "reason": res.reason[:300],
            "target": res.target, "resolved": res.resolved}


def summarise(rows: list[dict], graded: list[dict], ks: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """pass@k over the rows, per-task ``[n, resolved]`` (errors left out of ``n``), verdict counts,
    and rows with no graded sample (named, so a partial run is visible)."""
    counts: dict[str, list[int]] = {r["instance_id"]: [0, 0] for r in rows}
    for g in graded:
        if g["verdict"] != "error" and g["task_id"] in counts:
            counts[g["task_id"]][0] += 1
            counts[g["task_id"]][1] += int(bool(g.get("resolved")))
    scored = {t: (n, c) for t, (n, c) in counts.items() if n}
    n_min = min((n for n, _ in scored.values()), default=0)
    return {"tasks": len(rows), "graded_tasks": len(scored), "ungraded": sorted(set(counts) - set(scored)),
            **mean_pass_at_k(scored, [k for k in ks if k <= n_min]),
            "verdicts": dict(Counter(g["verdict"] for g in graded).most_common()),
            "per_task": {t: list(nc) for t, nc in sorted(counts.items())}}


def evaluate_repair(model: str, rows: list[dict], out_dir: str | Path, *, generator, n_samples: int = 1,
                    temperature: float = 0.0, max_new_tokens: int = 768, seed: int = 0, backend: str = "auto",
                    timeout: float = DEFAULT_TIMEOUT, workers: int = 2, progress: bool = True) -> dict[str, Any]:
    """Sample, grade and summarise into ``out_dir`` (``samples.jsonl``, ``results.jsonl``,
    ``summary.json``); returns the summary with the sampling settings."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = sample_repairs(model, rows, out / "samples.jsonl", generator=generator, n_samples=n_samples,
                          temperature=temperature, max_new_tokens=max_new_tokens, seed=seed, progress=progress)
    t0 = time.monotonic()
    graded = grade_repairs(rows, out / "samples.jsonl", out / "results.jsonl", backend=backend, timeout=timeout,
                           workers=workers, progress=progress)
    ks = tuple(k for k in (1, 2, 4, 8, 16) if k <= n_samples)
    summary = {**summarise(rows, graded, ks), "settings": meta, "grading_s": round(time.monotonic() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
