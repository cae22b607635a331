"""``patchloop eval repair``: a checkpoint's repair pass@k on repair rows, end to end.

Loads the rows (bad ones named and left out), opens the engine (a server's start gets a
spinner), samples and grades through :mod:`patchloop.evals.repair_run`, and says in one line
what it measured. Kept apart from the pipeline so the command only parses its options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from patchloop.evals.swe import DEFAULT_TIMEOUT


@dataclass
class RepairEvalResult:
    line: str
    exit_code: int
    summary: dict


def run_repair_eval(data: Path, model: str, out: Path, *, engine: str = "auto", n_samples: int = 1,
                    temperature: float = 0.0, max_new_tokens: int = 768, seed: int = 0, limit: int | None = None,
                    backend: str = "auto", timeout: float = DEFAULT_TIMEOUT, workers: int = 2,
                    progress: bool = True, on_error=None) -> RepairEvalResult:
    """Raises ``ValueError`` (no rows, or settings that differ from what ``out`` holds) and
    ``GenerationError`` (the engine could not start or failed; finished samples are kept)."""
    from patchloop.evals.repair_run import evaluate_repair, load_rows, missing_replies
    from patchloop.evals.waiting import alive
    from patchloop.llm.generation.engines import open_generator

    bad: list = []

    def report(err) -> None:
        bad.append(err)
        if on_error:
            on_error(err)

    if not Path(data).is_file():
        raise ValueError(f"{data}: no such file (repair rows come from `patchloop datagen repair`)")
    rows = load_rows(data, on_error=report)[:limit] if limit else load_rows(data, on_error=report)
    if not rows:
        raise ValueError(f"{data}: no repair rows (make them with `patchloop datagen repair`)")
    gen = None
    if missing_replies(rows, Path(out) / "samples.jsonl", n_samples):  # a finished output grades without one
        with alive(f"starting the {engine} engine on {model}", progress):
            gen = open_generator(engine, model, log_dir=Path(out) / "engine")
    try:
        summary = evaluate_repair(model, rows, out, generator=gen, n_samples=n_samples, temperature=temperature,
                                  max_new_tokens=max_new_tokens, seed=seed, backend=backend, timeout=timeout,
                                  workers=workers, progress=progress)
    finally:
        if gen is not None:
            gen.close()
    ks = ", ".join(f"{k} {summary[k]:.1%}" for k in summary if k.startswith("pass@"))
    info = summary["settings"]["engine"]
    line = (f"repair: {summary['graded_tasks']}/{summary['tasks']} tasks graded, {ks or 'no pass@k'} "
            f"({info.get('engine')}, {info.get('dtype')}); verdicts {summary['verdicts']} -> {out}")
    return RepairEvalResult(line, 1 if summary["ungraded"] or bad else 0, summary)
