"""Run the agent k times per training task in parallel sandboxes, graded by the SWE harness.

Output directory (``OUT``), written item by item:

- ``rollouts.jsonl``: one row per finished rollout, appended as it finishes (fields in
  docs/agentic-rl.md); the latest row of a (task, sample) is the one that counts;
- ``trajectories/<task>__<sample>.jsonl``: the episode (docs/trajectories.md), token ids included;
- ``settings.json``: what the rollouts depend on; a rerun with other settings is refused;
- ``summary.json``: counts and the time split (model, sandbox, grading);
- ``checkpoints/``: the agent's checkpoint of each rollout in flight, so a killed run resumes it
  from its last step; removed when the rollout ends. ``grades/``: the harness's logs.

A rerun skips every finished rollout except those masked for an infrastructure reason
(``crash``, ``grade_error``), which it tries again, as ``patchloop batch`` retries its errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from patchloop.rl.agentic.config import RolloutSettings
from patchloop.rl.agentic.worker import RETRIED, RolloutWorker
from patchloop.rl.config import ModelSettings
from patchloop.types import Task, append_jsonl, end_torn_line, iter_jsonl, sha256_file, write_json

# Keys that choose which rollouts exist or where they run, not what one rollout is.
NOT_IDENTITY = ("instances", "max_tasks", "samples_per_task", "workers", "executor", "ray_address",
                "base_url", "output_dir")


class RolloutSettingsMismatch(ValueError):
    """``OUT`` holds rollouts made with other settings. One line."""


def load_rollout_tasks(s: RolloutSettings) -> list[Task]:
    """The tasks to roll out on, in file order; a bad instance is one warning line and skipped."""
    import logging

    from patchloop.evals.datasets import load_tasks

    log = logging.getLogger(__name__)
    tasks = load_tasks(s.tasks, on_error=lambda e: log.warning("skipped: %s", e))
    if s.instances:
        unknown = sorted(set(s.instances) - {t.instance_id for t in tasks})
        if unknown:
            raise ValueError(f"rollouts.instances names {len(unknown)} id(s) not in {s.tasks}: {', '.join(unknown[:5])}")
        tasks = [t for t in tasks if t.instance_id in set(s.instances)]
    tasks = tasks[: s.max_tasks] if s.max_tasks is not None else tasks
    if not tasks:
        raise ValueError(f"{s.tasks}: no tasks to roll out on")
    return tasks


def rollout_identity(s: RolloutSettings, model_spec: str) -> dict:
    """Everything one rollout depends on: the model, sampling, the agent, grading, the tasks file."""
    from patchloop.evals.datasets import BUILTIN
    from patchloop.evals.swe import HARNESS_VERSION, resolve_backend

    src = BUILTIN if s.tasks == "builtin" else Path(s.tasks)
    data = s.model_dump(mode="json", exclude=set(NOT_IDENTITY))
    data["agent"].pop("python", None)  # set per workspace
    data["backend"] = resolve_backend(s.backend)
    return {**data, "model": model_spec, "harness_version": HARNESS_VERSION,
            "tasks_sha256": sha256_file(src) if src.is_file() else None}


def check_settings(out: Path, identity: dict) -> None:
    """Record ``identity`` in ``settings.json``, or refuse when the directory holds another one."""
    path = out / "settings.json"
    if not path.exists():
        write_json(path, identity)
        return
    theirs = json.loads(path.read_text(encoding="utf-8"))
    diffs = [f"{k} {theirs.get(k)!r}, not {identity.get(k)!r}"
             for k in sorted(set(theirs) | set(identity)) if theirs.get(k) != identity.get(k)]
    if diffs:
        shown = "; ".join(d if len(d) < 160 else d[:157] + "..." for d in diffs[:3])
        raise RolloutSettingsMismatch(f"{out} holds rollouts made with {shown}{' ...' if len(diffs) > 3 else ''}: "
                                      "use another rollouts.output_dir, or the same settings to resume it")


def load_rows(out: str | Path) -> dict[tuple[str, int], dict]:
    """The latest row per (task, sample) of ``rollouts.jsonl`` (a torn last line is skipped)."""
    path = Path(out) / "rollouts.jsonl"
    rows: dict[tuple[str, int], dict] = {}
    if path.exists():
        for r in iter_jsonl(path, skip_bad=True):
            rows[(str(r.get("task_id")), int(r.get("sample", 0)))] = r
    return rows


def needs_run(row: dict | None) -> bool:
    """No row yet, or one masked for an infrastructure reason (a rerun tries it again)."""
    return row is None or row.get("mask_reason") in RETRIED


def summarise(rows: list[dict]) -> dict:
    """Counts and the time split of a set of rollout rows."""
    masked: dict[str, int] = {}
    for r in rows:
        if r.get("masked"):
            masked[r["mask_reason"]] = masked.get(r["mask_reason"], 0) + 1
    times = {k: round(sum(r.get(k) or 0.0 for r in rows), 3) for k in ("model_s", "sandbox_s", "grade_s")}
    return {"rollouts": len(rows), "resolved": sum(bool(r.get("resolved")) for r in rows),
            "masked": masked, "tasks": len({r["task_id"] for r in rows}),
            "tasks_resolved": len({r["task_id"] for r in rows if r.get("resolved")}), **times}


def run_rollouts(s: RolloutSettings, out: str | Path, *, model_spec: str, tasks: list[Task] | None = None,
                 model_factory: Callable | None = None, progress: bool = True) -> list[dict]:
    """Run every unfinished rollout of the selected tasks; return their rows (task order, then
    sample), finished earlier ones included."""
    out = Path(out)
    tasks = tasks if tasks is not None else load_rollout_tasks(s)
    if model_factory is None:  # a bad --model is one error now, not a crashed row per rollout
        from patchloop.llm import LLMError, load_chat_model

        try:
            load_chat_model(model_spec, base_url=s.base_url)
        except LLMError as e:
            raise ValueError(str(e)) from None
    out.mkdir(parents=True, exist_ok=True)
    check_settings(out, rollout_identity(s, model_spec))
    if (out / "rollouts.jsonl").exists():
        end_torn_line(out / "rollouts.jsonl")
    rows = load_rows(out)
    todo = [(t, k) for t in tasks for k in range(s.samples_per_task) if needs_run(rows.get((t.instance_id, k)))]
    with _Progress(progress, len(tasks) * s.samples_per_task - len(todo), len(tasks) * s.samples_per_task) as bar:
        def record(row: dict, traj: dict | None) -> None:
            from patchloop.agent.trajectory import write_trajectory
            from patchloop.types import Trajectory

            if traj is not None:  # the trajectory first: a row never names a file that is not there
                write_trajectory(out / row["trajectory"], Trajectory.from_dict(traj))
            append_jsonl(out / "rollouts.jsonl", row)
            rows[(row["task_id"], row["sample"])] = row
            bar.update(row)

        if todo and s.executor == "ray":
            _run_ray(s, model_spec, out, todo, record)
        elif todo:
            _run_threads(RolloutWorker(s, model_spec, out, model_factory), todo, s.workers, record)
    mine = [rows[(t.instance_id, k)] for t in tasks for k in range(s.samples_per_task)]
    write_json(out / "summary.json", summarise(mine))
    return mine


def acting_spec(model: ModelSettings, rollouts) -> str:
    """The ``--model`` string the rollouts act with: ``rollouts.model``, else ``hf:`` the start model."""
    if rollouts.model:
        return rollouts.model
    return f"hf:{model.name_or_path}" + (f"+{model.adapter}" if model.adapter else "")


def run_from_config(cfg) -> dict:
    """``patchloop train agent-rollouts``: the rollouts of an ``AgentRolloutsConfig``; the summary."""
    from patchloop.llm.quiet import quiet_libraries

    quiet_libraries()
    out = Path(cfg.rollouts.output_dir or "runs/agent-rollouts")
    run_rollouts(cfg.rollouts, out, model_spec=acting_spec(cfg.model, cfg.rollouts))
    summary = json.loads((out / "summary.json").read_text())
    return {"output_dir": str(out), **summary, "masked_text": masked_text(summary["masked"])}


def masked_text(masked: dict[str, int]) -> str:
    """``{"crash": 2, "context": 1}`` -> ``"3 (crash 2, context 1)"``, ``{}`` -> ``"0"``."""
    if not masked:
        return "0"
    return f"{sum(masked.values())} ({', '.join(f'{k} {v}' for k, v in sorted(masked.items()))})"


def _run_threads(worker: RolloutWorker, todo: list[tuple[Task, int]], n: int, record) -> None:
    try:
        with ThreadPoolExecutor(max(1, n), thread_name_prefix="rollout") as pool:
            futures = [pool.submit(worker.run, task, k) for task, k in todo]
            for fut in as_completed(futures):
                record(*fut.result())  # run() never raises; the driver is the only writer
    finally:
        worker.close()


def _run_ray(s: RolloutSettings, model_spec: str, out: Path, todo: list[tuple[Task, int]], record) -> None:
    """One actor per worker, each a ``RolloutWorker`` owning its own sandboxes; the driver writes."""
    import logging

    import ray
    from ray.util import ActorPool

    started = not ray.is_initialized()
    if started:  # Ray's own start-up notes stay out of the user's terminal
        if s.ray_address:
            ray.init(address=s.ray_address, logging_level=logging.ERROR)
        else:
            ray.init(num_cpus=s.workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        actor = ray.remote(num_cpus=1, max_restarts=0)(RolloutWorker)
        one = s.model_copy(update={"workers": 1})  # each actor runs one rollout at a time
        actors = [actor.remote(one.model_dump(mode="json"), model_spec, str(out)) for _ in range(s.workers)]
        pool = ActorPool(actors)
        for row, traj in pool.map_unordered(lambda a, job: a.run.remote(job[0].to_dict(), job[1]), todo):
            record(row, traj)
        ray.get([a.close.remote() for a in actors])
    finally:
        if started:
            ray.shutdown()


class _Progress:
    """A rich bar over the rollouts: done of total, resolved, masked."""

    def __init__(self, enabled: bool, done: int, total: int):
        self.enabled, self.done, self.total, self.resolved, self.masked = enabled, done, total, 0, 0
        self._bar = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("[bold]rollouts"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.description}"), TimeElapsedColumn())
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self.total, completed=self.done)
        return self

    def update(self, row: dict) -> None:
        self.done += 1
        self.resolved += bool(row.get("resolved"))
        self.masked += bool(row.get("masked"))
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done,
                             description=f"resolved {self.resolved} · masked {self.masked} (this run)")

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
