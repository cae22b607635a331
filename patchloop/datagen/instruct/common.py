"""What every teacher pipeline shares: prompt templates, asking, parsing, verifying, looping.

Templates live in ``prompts/<version>/`` and use ``$name`` placeholders (code is full of
braces). The version and a hash of every template text go into each stage's fingerprint, so
editing a template is a new recipe. Verification is ``evals``' function grader: the same
verdict code as RL rewards and evaluation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from pathlib import Path
from string import Template
from typing import Any

from pydantic import BaseModel, Field

from patchloop.datagen.instruct.parse import Drop, to_task
from patchloop.datagen.instruct.stage import Outcome, Stage, StageError
from patchloop.datagen.instruct.teacher import LLMError, Teacher
from patchloop.evals.func.grade import PASS, TIMEOUT
from patchloop.types import FunctionTask, read_jsonl

TEMPLATE_VERSION = "v2"
_PROMPTS = Path(__file__).parent / "prompts"


class GraderUnavailable(RuntimeError):
    """The sandbox could not grade an item: the item is not logged, so a rerun grades it."""


class StageConfig(BaseModel):
    """The settings every teacher stage has; all of a stage's settings go into its fingerprint."""

    seed: int = Field(0, description="Run seed: what is drawn and the teacher sampling seeds derive from it.")
    timeout_s: float = Field(5.0, description="Seconds per task when verifying in the sandbox.")
    workers: int = Field(1, ge=1, description="Items in flight at once. Left out of the fingerprint: every "
                                              "item has its own sampling seed, whatever runs beside it.")

    def fingerprinted(self) -> dict:
        return self.model_dump(exclude={"workers"})


class SlotConfig(StageConfig):
    """A stage of ``n`` numbered slots, one teacher prompt each. ``n`` is left out of the
    fingerprint: slot i is the same in any run, so a rerun with a larger n extends the output."""

    n: int = Field(100, description="Slots: one teacher prompt each.")

    def fingerprinted(self) -> dict:
        return self.model_dump(exclude={"n", "workers"})


def template(name: str, version: str = TEMPLATE_VERSION) -> str:
    return (_PROMPTS / version / f"{name}.md").read_text(encoding="utf-8")


def render(name: str, **fields: str) -> str:
    """A template filled in; ``$format`` is the shared answer-shape block."""
    fields.setdefault("format", template("format"))
    return Template(template(name)).safe_substitute(fields)


def template_ids(*names: str, version: str = TEMPLATE_VERSION) -> dict[str, str]:
    """Template version and content hashes, for the fingerprint."""
    text = "".join(template(n, version) for n in (*names, "format"))
    return {"version": version, "sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}


def open_stage(out: Path, name: str, cfg: StageConfig, teacher: Teacher, template_name: str,
               inputs: Path) -> Stage:
    """The stage's output directory, claimed under the fingerprint of its settings, teacher,
    template and input file."""
    return Stage(out, name, {"config": cfg.fingerprinted(), "teacher": teacher.describe(),
                             "templates": template_ids(template_name)}, inputs=[inputs])


def read_rows(path: str | Path, warn: Callable[[str], None] | None = None) -> list[dict]:
    """The rows of an input JSONL file; a bad line is reported (file:line: cause) and skipped."""
    return read_jsonl(path, skip_bad=True, on_error=(lambda e: warn(f"skipped {e}")) if warn else None)


def ask(teacher: Teacher, prompt: str, seed: int, outcome: Outcome) -> str:
    """One teacher reply, counted as generated (tokens and time added to the outcome)."""
    reply = teacher.ask(prompt, seed=seed)
    outcome.counts["generated"] += 1
    outcome.tokens += reply.tokens
    outcome.seconds += reply.seconds
    outcome.prompt_tokens += reply.prompt_tokens
    outcome.cached_tokens += reply.cached_tokens
    return reply.text


def parse_reply(text: str, task_id: str, outcome: Outcome, extra: dict | None = None) -> FunctionTask | None:
    """The reply as a task (counted as parsed), or None with the drop recorded."""
    try:
        task = to_task(text, task_id, extra)
    except Drop as d:
        outcome.drop(f"{d.reason}: {task_id}")
        return None
    outcome.counts["parsed"] += 1
    return task


def verify(tasks: Sequence[FunctionTask], grader: Callable, outcome: Outcome) -> list[FunctionTask]:
    """The tasks whose canonical solution passes their own tests in the sandbox."""
    if not tasks:
        return []
    results = grader(list(tasks), [t.canonical_solution for t in tasks])
    if any(r.infra_error for r in results):
        bad = next(r for r in results if r.infra_error)
        raise GraderUnavailable(f"{bad.task_id}: {bad.detail}")
    kept = []
    for task, res in zip(tasks, results):
        outcome.counts["executed"] += 1
        if res.status == PASS:
            outcome.counts["passed"] += 1
            kept.append(task)
        elif res.status == TIMEOUT:
            outcome.drop(f"timeout: {task.task_id}")
        else:
            outcome.drop(f"failed_own_tests: {task.task_id}: {res.detail[:200]}")
    return kept


def task_row(task: FunctionTask, **provenance: Any) -> dict:
    """The row a stage writes for a kept task: HumanEval fields, then where it came from."""
    row = task.to_dict()
    row.update(provenance)
    return row


def _finished(todo: Sequence[tuple[str, Any]], process: Callable[[str, Any], Outcome],
              workers: int) -> Iterator[tuple[str, Outcome | Exception]]:
    """``(key, outcome)`` as items finish, or ``(key, error)`` for an item the teacher or the
    sandbox could not do. With ``workers`` > 1 that many items are in flight (a batching server
    such as ``patchloop serve`` decodes them together), and no more: closing the iterator
    waits for those and starts nothing else."""
    if workers <= 1:
        for key, payload in todo:
            try:
                yield key, process(key, payload)
            except (LLMError, GraderUnavailable) as e:
                yield key, e
        return
    pending = iter(todo)
    inflight: dict[Future, str] = {}
    pool = ThreadPoolExecutor(workers, thread_name_prefix="datagen")

    def start_next() -> None:
        item = next(pending, None)
        if item is not None:
            inflight[pool.submit(process, *item)] = item[0]

    try:
        for _ in range(workers):
            start_next()
        while inflight:
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in done:
                key = inflight.pop(fut)
                start_next()  # never more than ``workers`` started: a stage that stops wastes few
                try:
                    yield key, fut.result()
                except (LLMError, GraderUnavailable) as e:
                    yield key, e
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_items(stage: Stage, items: Sequence[tuple[str, Any]], process: Callable[[str, Any], Outcome], *,
              progress: bool = True, warn: Callable[[str], None] | None = None, workers: int = 1) -> dict:
    """``process`` every item not yet logged, logging each as it finishes; returns the stats.

    A teacher error (``LLMError``) or a sandbox that cannot grade leaves the item unlogged
    (the next run retries it); a few teacher errors in a row stop the stage. The log is in the
    order items finish; ``tasks.jsonl`` is in input order whatever ``workers`` is."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    grader_errors: list[str] = []
    todo = [(k, p) for k, p in items if k not in stage.done]
    with Progress(TextColumn(stage.name), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not progress) as bar, closing(_finished(todo, process, workers)) as finished:
        job = bar.add_task(stage.name, total=len(items), completed=len(items) - len(todo))
        for key, result in finished:
            if isinstance(result, LLMError):
                stage.teacher_failed(key, result)
                if warn:
                    warn(f"{key}: teacher failed: {result}")
            elif isinstance(result, GraderUnavailable):
                grader_errors.append(str(result))
                if warn:
                    warn(f"{key}: not graded: {result}")
                if len(grader_errors) >= 3:
                    raise StageError(f"{stage.name}: the sandbox cannot grade ({result})") from None
            else:
                stage.record(key, result)
            bar.advance(job)
    return stage.finish([k for k, _ in items], {"grader_errors_this_run": grader_errors[:20]})


def run_slots(stage: Stage, cfg: SlotConfig, process: Callable[[str, int], Outcome], *,
              progress: bool = True, warn: Callable[[str], None] | None = None) -> dict:
    """``run_items`` over slots ``0..n-1``, keyed ``slot-00000`` and so on."""
    slots = [(f"slot-{i:05d}", i) for i in range(cfg.n)]
    return run_items(stage, slots, process, progress=progress, warn=warn, workers=cfg.workers)
