"""A whole SWE-style evaluation run: thread pool, item-by-item results, resume, reports.

``runs/eval/<run_id>/results.jsonl`` gets one line per finished instance, appended as it
finishes, keyed by ``instance_key`` (instance + patch + harness version). On a rerun with the
same run id, an instance whose current key already has a model outcome is skipped; one that
ended in ``error`` (infrastructure) is tried again; a changed patch has a new key and is
evaluated again. The report is rebuilt from the file, so a killed run loses nothing.

``run.json`` names the dataset, the predictions and their models a run id was made with;
other predictions under the same run id would mix two runs into one report, so
:func:`check_run_id` refuses them (a new patch from the same source is fine: it has a new key).
It also records the grading settings (timeout, backend): a rerun with others is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Self

from patchloop.evals import grading
from patchloop.evals.report import build_report, write_reports
from patchloop.evals.settings_guard import SettingsMismatch, guard_settings
from patchloop.evals.swe import DEFAULT_TIMEOUT, InstanceResult, evaluate_instance, instance_key
from patchloop.evals.unreadable import count_unreadable
from patchloop.types import Prediction, RecordError, Task, append_jsonl, iter_jsonl

RunIdMismatch = SettingsMismatch  # the run id holds results of other predictions or settings


def _source(spec: str | Path) -> str:
    return str(spec) if str(spec) in ("gold", "empty", "builtin") else str(Path(spec).resolve())


def check_run_id(run_dir: str | Path, dataset: str | Path, predictions: str | Path,
                 preds: dict[str, Prediction]) -> None:
    """Record what ``run_dir`` evaluates, or refuse a run of something else into it."""
    run_dir = Path(run_dir)
    mine = {"dataset": _source(dataset), "predictions": _source(predictions),
            "models": sorted({p.model_name_or_path for p in preds.values()})}
    if not (run_dir / "run.json").exists() and (run_dir / "results.jsonl").exists():
        # made before run.json: its results name the models
        old = {r.get("model_name_or_path", "") for r in iter_jsonl(run_dir / "results.jsonl", skip_bad=True)}
        if old - set(mine["models"]):
            raise RunIdMismatch(f"{run_dir} holds results of model(s) {sorted(old)}, not {mine['models']}: "
                                "use another --run-id")
    guard_settings(run_dir / "run.json", mine, retry="use another --run-id")


def save_patch(run_dir: Path, instance_id: str, patch: str) -> None:
    """The model patch as ``patches/<instance>.diff`` beside its log, for the report to link."""
    from patchloop.evals.swe import _safe_name  # the log's file name, so the two sit side by side

    path = run_dir / "patches" / f"{_safe_name(instance_id)}.diff"
    if not path.exists() or path.read_text(encoding="utf-8", errors="replace") != (patch or ""):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(patch or "", encoding="utf-8", errors="replace")


def load_results(path: Path, on_error: Callable[[RecordError], None] | None = None) -> dict[str, InstanceResult]:
    """Latest result per key; a torn last line (killed mid-write) is reported and skipped."""
    if not path.exists():
        return {}
    out: dict[str, InstanceResult] = {}
    for res in iter_jsonl(path, InstanceResult, skip_bad=True, on_error=on_error):
        out[res.key] = res
    return out


def run_swe_eval(
    tasks: list[Task],
    predictions: dict[str, Prediction],
    run_dir: str | Path,
    *,
    workers: int = 1,
    backend: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    limits=None,
    progress: bool = True,
    on_error: Callable[[RecordError], None] | None = None,
    run_empty: bool = False,
    unreadable: Sequence[RecordError] = (),
    bad_predictions: Sequence[RecordError] = (),
) -> dict:
    """Evaluate every task that has a prediction; return the report dict (also written
    as ``report.json`` and ``report.md`` in ``run_dir``). ``unreadable``: dataset rows that
    could not be read; they count as submitted and unresolved, with their reason.
    ``bad_predictions``: prediction rows left out (malformed, unknown instance), listed."""
    run_dir = Path(run_dir)
    # verdicts depend on these: a rerun with another timeout would keep the old TIMEOUTs
    guard_settings(run_dir / "run.json", {"timeout": timeout, "backend": backend},
                   retry="use another --run-id, or the same settings to resume it")
    results_path = run_dir / "results.jsonl"
    done = load_results(results_path, on_error)
    todo: list[tuple[Task, Prediction, str]] = []
    current: dict[str, InstanceResult] = {}
    for task in tasks:
        pred = predictions.get(task.instance_id)
        if pred is None:
            continue
        key = instance_key(task, pred.model_patch, run_empty=run_empty)
        save_patch(run_dir, task.instance_id, pred.model_patch)
        prev = done.get(key)
        if prev is not None and prev.verdict != grading.ERROR_VERDICT:
            current[task.instance_id] = prev
        else:
            todo.append((task, pred, key))

    def one(item: tuple[Task, Prediction, str]) -> InstanceResult:
        task, pred, _ = item
        return evaluate_instance(task, pred.model_patch, backend=backend, timeout=timeout, limits=limits,
                                 log_dir=run_dir / "logs", model_name_or_path=pred.model_name_or_path,
                                 run_empty=run_empty)

    with _Progress(progress, total=len(current) + len(todo)) as bar:
        bar.update(current.values())
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(one, item) for item in todo]
            for fut in as_completed(futures):
                res = fut.result()  # evaluate_instance never raises for an instance
                append_jsonl(results_path, res)  # main thread only: one writer, whole lines
                current[res.instance_id] = res
                bar.update([res])
    report = count_unreadable(build_report(tasks, predictions, current, run_id=run_dir.name,
                                           settings={"backend": backend, "timeout": timeout, "workers": workers,
                                                     "run_empty": run_empty}),
                              unreadable, bad_predictions)
    write_reports(run_dir, report)
    return report


class _Progress:
    """rich progress bar with resolved / done / total; silent when ``enabled`` is false."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total, self.resolved, self.done = enabled, total, 0, 0
        self._bar = None

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("[bold]eval swe"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.description}"), TimeElapsedColumn())
            self._bar.__enter__()
            self._task = self._bar.add_task("resolved 0", total=self.total)
        return self

    def update(self, results) -> None:
        for res in results:
            self.done += 1
            self.resolved += res.resolved
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done,
                             description=f"resolved {self.resolved} / done {self.done} / total {self.total}")

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
