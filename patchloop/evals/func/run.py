"""``eval func`` as one call: problems selected, a checkpoint sampled (``--model``), samples graded.

The command only parses its arguments; the order of the steps is the contract here. The grading
sandbox is opened before any sampling (a backend that cannot start would otherwise show only
after a long sampling pass, as an ERROR on every sample), and a rerun into the same output
directory with other samples or grading settings is refused before anything runs.

A run that cannot start raises :class:`FuncEvalError` (one line); a run that finished returns a
:class:`FuncEvalResult` holding what the command prints and whether the measurement is clean.
Messages name the command's options, since the command is who shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchloop.types import RecordError, read_jsonl

OnError = Callable[[RecordError], None]


class FuncEvalError(Exception):
    """A run that could not start or graded nothing: one line naming the option and the cause."""


class ProblemsNotFound(FuncEvalError):
    """``--dataset`` names nothing that exists: a usage error rather than a failed run."""


@dataclass(frozen=True)
class Sampling:
    """How ``--model`` is sampled; every field is recorded in ``summary.json``'s meta."""

    model: str
    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    prompt_format: str = "completion"
    batch_size: int = 16
    engine: str = "auto"
    seed: int = 0


@dataclass(frozen=True)
class FuncEvalResult:
    """What the command prints. ``ungraded``: the error line when some samples hit an
    infrastructure error (pass@k counts them as failures, so the run is not a measurement)."""

    summary: dict[str, Any]
    line: str
    ungraded: str | None
    unreadable: int

    @property
    def exit_code(self) -> int:
        """1 when the run is not clean (ungraded samples or unreadable input rows), as `eval swe`."""
        return 1 if self.ungraded or self.unreadable else 0


def run_func_eval(dataset: str, *, ks: Sequence[int], out: Path, samples: Path | None = None,
                  sampling: Sampling | None = None, workers: int = 1, backend: str = "auto",
                  timeout: float = 5.0, split: str = "", limit: int | None = None, problem_ids: str = "",
                  progress: bool = True, on_error: OnError | None = None) -> FuncEvalResult:
    """Function-level pass@k of ``samples`` (a JSONL file), or of a checkpoint (``sampling``):
    exactly one of the two. ``on_error`` sees each skipped row as it is met."""
    from patchloop.evals.func.evaluate import evaluate_function_samples

    if samples is not None and not samples.is_file():
        raise FuncEvalError(f"--samples {samples}: "
                            f"{'a directory, not a JSONL file' if samples.is_dir() else 'no such file'}")
    report = on_error or (lambda e: None)
    bad_problems: list[RecordError] = []
    problems = _problems(dataset, split, problem_ids, limit, _keeping(bad_problems, report))
    grading = {"dataset": str(Path(dataset).resolve()) if Path(dataset).exists() else dataset, "split": split,
               "problems": problem_ids, "limit": limit, "timeout_s": timeout, "backend": backend,
               "samples": f"model:{sampling.model}" if sampling is not None else str(samples.resolve())}
    _guard_out(out, grading)
    meta: dict[str, Any] = {}
    if sampling is not None:
        samples = out / "samples.jsonl"
        meta = {**_sample(sampling, problems, samples, backend=backend, progress=progress),
                **_selection(dataset, split, problems, chosen=bool(limit or problem_ids))}
    skipped: list[RecordError] = []
    summary = evaluate_function_samples(problems, samples, out_dir=out, ks=list(ks), workers=workers,
                                        backend=backend, timeout_s=timeout, progress=progress,
                                        on_error=_keeping(skipped, report), meta={**meta, "grading": grading})
    if not summary["samples"]:
        raise FuncEvalError(f"--samples {samples}: no sample names a problem of {dataset}"
                            + (f" ({len(skipped)} skipped, first: {skipped[0]})" if skipped else " (empty)"))
    unreadable = bad_problems + [e for e in skipped if not e.where.startswith(str(out / "results.jsonl"))]
    return _result(summary, out, unreadable)


def _keeping(errors: list[RecordError], report: OnError) -> OnError:
    """An ``on_error`` that reports each unreadable row and keeps it in ``errors``."""

    def on_error(e: RecordError) -> None:
        errors.append(e)
        report(e)

    return on_error


def _problems(dataset: str, split: str, problem_ids: str, limit: int | None, on_error: OnError) -> dict:
    """The problems of ``dataset`` named by ``--problems`` (comma-separated), then the first ``limit``."""
    from patchloop.evals.benchmarks import select_problems
    from patchloop.evals.func.evaluate import load_func_problems

    try:
        problems = load_func_problems(dataset, split=split or None, on_error=on_error)
    except FileNotFoundError as e:
        raise ProblemsNotFound(str(e)) from None
    try:
        problems = select_problems(problems, ids=[x.strip() for x in problem_ids.split(",") if x.strip()],
                                   limit=limit)
    except KeyError as e:
        raise FuncEvalError(f"--problems: {e.args[0]}") from None
    if not problems:
        raise FuncEvalError(f"{dataset}: no usable problems")
    return problems


def _guard_out(out: Path, grading: dict) -> None:
    """``--out`` resumes: refuse a rerun into it with other samples or grading settings."""
    from patchloop.evals.settings_guard import SettingsMismatch, guard_settings

    try:
        guard_settings(out / "run.json", grading, retry="use another --out, or the same settings to resume it")
    except SettingsMismatch as e:
        raise FuncEvalError(str(e)) from None


def _sample(sampling: Sampling, problems: dict, path: Path, *, backend: str, progress: bool) -> dict[str, Any]:
    """Write the checkpoint's completions to ``path`` once a grading sandbox has been seen to
    start; the sampling settings, as ``sample_completions`` returns them."""
    from patchloop.evals.func.sample import sample_completions
    from patchloop.llm.generation import GenerationError

    _grader_starts(backend)
    try:
        return sample_completions(sampling.model, list(problems.values()), path, n_samples=sampling.n_samples,
                                  temperature=sampling.temperature, top_p=sampling.top_p,
                                  max_new_tokens=sampling.max_new_tokens, prompt_format=sampling.prompt_format,
                                  batch_size=sampling.batch_size, seed=sampling.seed, progress=progress,
                                  engine=sampling.engine)
    except (FileNotFoundError, OSError, ValueError, GenerationError) as e:
        raise FuncEvalError(f"--model {sampling.model}: {e}") from None


def _selection(dataset: str, split: str, problems: dict, *, chosen: bool) -> dict[str, Any]:
    """Which problems a sampled run covers, for ``summary.json``'s meta: the ids only when
    ``--problems`` or ``--limit`` chose a subset."""
    from patchloop.evals.func.evaluate import resolve_split

    return {"dataset": dataset, "split": resolve_split(dataset, split or None), "problems": len(problems),
            "problem_ids": list(problems) if chosen else None}


def _grader_starts(backend: str) -> None:
    """Open and close one grading sandbox before sampling: a backend that cannot start (no engine,
    no base image and no tool to build it) would otherwise show only after the whole sampling
    pass, as an ERROR on every sample and a pass@k of zero."""
    from patchloop.evals.waiting import alive
    from patchloop.sandbox import SandboxError, open_sandbox

    try:
        with alive("starting the grading sandbox (the first run on a machine builds its image: minutes)"):
            open_sandbox(backend=backend, task_id="eval-func-check").close()
    except SandboxError as e:
        raise FuncEvalError(f"--backend {backend}: the grading sandbox does not start ({e}); "
                            "nothing was sampled") from None


def _result(summary: dict, out: Path, unreadable: list[RecordError]) -> FuncEvalResult:
    """Record the unreadable rows in ``summary.json`` and word the run's outcome."""
    from patchloop.evals.unreadable import record_unreadable

    record_unreadable(out / "summary.json", unreadable)
    scores = ", ".join(f"{key} {100 * v:.1f}%" for key, v in summary.items() if key.startswith("pass@"))
    line = (f"{summary['problems']} problems, {summary['samples']} samples: {scores or 'no pass@k (no samples)'}; "
            f"statuses {summary['statuses']}"
            + (f"; {len(unreadable)} unreadable rows (in summary.json)" if unreadable else "")
            + f"; summary: {out / 'summary.json'}")
    return FuncEvalResult(summary, line, _ungraded(summary, out / "results.jsonl"), len(unreadable))


def _ungraded(summary: dict, results: Path) -> str | None:
    """Samples that ended in an infrastructure error count as failures in pass@k, so the run is
    not a measurement: say how many, the first cause, and that a rerun grades them again."""
    if not summary.get("infra_errors"):
        return None
    first = next((r.get("detail") for r in read_jsonl(results) if r.get("infra_error")), None) \
        if results.exists() else None
    return (f"{summary['infra_errors']} of {summary['samples']} samples were not graded "
            f"(first cause: {first or 'unknown'}); pass@k above counts them as failures. "
            "Rerun the same command to grade them again.")
