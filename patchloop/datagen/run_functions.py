"""Run ``datagen functions`` end to end: generate, verify in one sandbox, check splits, write.

Outputs in ``OUT``: ``sft.jsonl``, ``rl.jsonl``, ``heldout.jsonl`` (byte-identical for a seed),
``hf/`` (a ``datasets.DatasetDict`` from ``save_to_disk``), ``overlap.json`` and
``fingerprint.json`` (generator version, seed, n, resolved config and its hash, counts), and
``verified.jsonl``: every verdict as it came, so a killed run resumes without verifying again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from patchloop.datagen import overlap
from patchloop.datagen.functions import (
    GENERATOR_VERSION,
    SPLITS,
    FunctionsConfig,
    finalise,
    generate,
    hf_rows,
)
from patchloop.evals.func.grade import grade_function_batch
from patchloop.evals.settings_guard import guard_settings
from patchloop.evals.waiting import alive
from patchloop.types import FunctionTask, append_jsonl, end_torn_line, iter_jsonl, write_json, write_jsonl

VERIFY_CHUNK = 64
VERDICTS = "verified.jsonl"  # one line per verified task: what a rerun after a kill reuses


def verdict_key(task: FunctionTask, timeout_s: float) -> str:
    """What a verdict depends on: the whole task (ids name only family, level and parameters;
    the test inputs come from the seed) and the time limit."""
    body = json.dumps([task.prompt, task.test, task.canonical_solution, task.extra.get("cases"), timeout_s],
                      sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:24]


def load_verdicts(path: Path) -> dict[str, tuple[bool, str]]:
    """(verdict, failure line) by key, as a killed or finished run wrote them (a torn last
    line is skipped)."""
    out: dict[str, tuple[bool, str]] = {}
    if path.exists():
        for rec in iter_jsonl(path, skip_bad=True):
            if isinstance(rec.get("key"), str) and isinstance(rec.get("ok"), bool):
                out[rec["key"]] = (rec["ok"], str(rec.get("failure") or ""))
    return out


def make_verifier(sandbox: Any, timeout_s: float, advance: Callable[[int], None] | None = None,
                  failures: list[str] | None = None, log: Path | None = None):
    """Canonical solutions graded by the evaluation grader, in chunks, on one sandbox.

    With ``log``, every verdict is appended there as it comes and verdicts already there are
    reused, so a killed run picks up where it stopped (generation is deterministic for a seed,
    so a rerun draws the same tasks). Infrastructure failures are never recorded."""
    known = load_verdicts(log) if log is not None else {}
    if log is not None and known:
        end_torn_line(log)

    def verify(tasks: list[FunctionTask]) -> list[bool]:
        keys = [verdict_key(t, timeout_s) for t in tasks]
        todo = [i for i, k in enumerate(keys) if k not in known]
        for k in keys:  # failures verified by an earlier run are still reported
            if k in known and not known[k][0] and failures is not None:
                failures.append(known[k][1])
        if advance and len(todo) < len(tasks):
            advance(len(tasks) - len(todo))
        for start in range(0, len(todo), VERIFY_CHUNK):
            part = [tasks[i] for i in todo[start:start + VERIFY_CHUNK]]
            results = grade_function_batch(part, [t.canonical_solution for t in part],
                                           sandbox=sandbox, timeout_s=timeout_s)
            if all(r.infra_error for r in results):
                raise RuntimeError(f"verification sandbox failed: {results[0].detail}")
            for i, t, r in zip(todo[start:start + VERIFY_CHUNK], part, results):
                if r.infra_error:
                    continue  # unknown, not false: verified again by the next run
                failure = "" if r.passed else f"{t.task_id}: {r.status} {r.detail}"
                known[keys[i]] = (r.passed, failure)
                if log is not None:
                    append_jsonl(log, {"key": keys[i], "task_id": t.task_id, "ok": r.passed, "failure": failure})
                if failure and failures is not None:
                    failures.append(failure)
            if advance:
                advance(len(part))
        return [known.get(k, (False, ""))[0] for k in keys]
    return verify


def run_functions(cfg: FunctionsConfig, out: Path, *, backend: str = "auto", sandbox: Any = None,
                  progress: bool = True) -> dict[str, Any]:
    """Generate and write everything; returns the fingerprint (with the overlap figures).
    ``out`` made with other settings is refused (:class:`SettingsMismatch`, a ValueError)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    check_out(out, cfg)

    own = sandbox is None
    if own:
        from patchloop.sandbox import open_sandbox

        with alive("starting the verification sandbox (the first run on a machine builds its image: minutes)",
                   progress):
            sandbox = open_sandbox(backend=backend, task_id="datagen-functions")
    failures: list[str] = []
    try:
        with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not progress, transient=False) as bar:
            job = bar.add_task("verify", total=cfg.n)
            out.mkdir(parents=True, exist_ok=True)
            verify = make_verifier(sandbox, cfg.timeout_s, lambda k: bar.advance(job, k), failures,
                                   log=out / VERDICTS)
            splits, stats = generate(cfg, verify)
            bar.update(job, total=max(cfg.n, int(bar.tasks[0].completed)))
    finally:
        if own:
            sandbox.close()
    report = overlap.split_overlap(splits, cfg.ngram)
    final = finalise(splits)
    out.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        write_jsonl(out / f"{name}.jsonl", final[name])
    _save_hf(final, out / "hf")
    write_json(out / "overlap.json", report)
    stats["failures"] = failures[:50]
    fingerprint = {
        "generator": GENERATOR_VERSION, "seed": cfg.seed, "n": cfg.n,
        "config": cfg.model_dump(), "config_hash": cfg.digest(),
        "counts": {s: len(final[s]) for s in SPLITS},
        "levels": {s: _histogram(t.extra["level"] for t in final[s]) for s in SPLITS},
        "families": {s: _histogram(t.extra["family"] for t in final[s]) for s in SPLITS},
        "stats": {k: v for k, v in stats.items() if k != "failed_ids"},
    }
    write_json(out / "fingerprint.json", fingerprint)
    return {**fingerprint, "overlap": report}


def describe(fp: dict, out: Path) -> list[str]:
    """What a run's fingerprint says, in lines for the terminal: what was written to ``out``,
    what was dropped and why, and how much the splits overlap."""
    counts = ", ".join(f"{k} {v}" for k, v in fp["counts"].items())
    st, g = fp["stats"], fp["overlap"]["ngram_n"]
    return [f"wrote {counts} tasks to {out} (config {fp['config_hash']})",
            f"drawn {st['drawn']}, duplicates {st['duplicate']}, failed verification "
            f"{st['failed_verification']}, dropped for overlap {st['overlap_dropped']}",
            *(f"overlap {pair}: exact {fig['exact']}, covered by {g}-grams {fig['covered']}, "
              f"sharing any {g}-gram {fig['any_shared_ngram']}/{fig['tasks']}"
              for pair, fig in fp["overlap"]["pairs"].items())]


def check_out(out: Path, cfg: FunctionsConfig) -> None:
    """One ``--out``, one config: a rerun with another seed would replace the tasks there."""
    fp = out / "fingerprint.json"
    legacy = json.loads(fp.read_text(encoding="utf-8")).get("config") if fp.exists() else None
    guard_settings(out / "run.json", cfg.model_dump(mode="json"), legacy=legacy,
                   retry="use another --out, or the same settings to resume it")


def _histogram(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


def _save_hf(final: dict[str, list[FunctionTask]], path: Path) -> None:
    import datasets

    datasets.disable_progress_bars()

    dd = datasets.DatasetDict({name: datasets.Dataset.from_list(hf_rows(tasks)) if tasks else
                               datasets.Dataset.from_dict({k: [] for k in _COLUMNS}) for name, tasks in final.items()})
    dd.save_to_disk(str(path))


_COLUMNS = ("task_id", "prompt", "entry_point", "test", "canonical_solution", "family", "level", "seed",
            "params", "cases")


def load_function_split(path: str | Path, split: str | None = None) -> list[FunctionTask]:
    """Tasks back from a JSONL split file or a saved ``DatasetDict`` directory (+ split)."""
    p = Path(path)
    if p.is_file():
        from patchloop.types import read_jsonl

        return read_jsonl(p, FunctionTask)
    import datasets

    ds = datasets.load_from_disk(str(p))
    rows = ds[split] if split else ds
    tasks = []
    for r in rows:
        extra = {k: r[k] for k in ("family", "level", "seed")}
        extra["params"], extra["cases"] = json.loads(r["params"]), json.loads(r["cases"])
        tasks.append(FunctionTask(r["task_id"], r["prompt"], r["entry_point"], r["test"],
                                  r["canonical_solution"], extra))
    return tasks
