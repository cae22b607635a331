"""`patchloop batch`: the agent over a dataset, one sandbox per instance, resumable.

Output under RUN_DIR: ``predictions.jsonl`` (SWE-bench format, one row per instance, an
empty patch plus ``error`` where it failed: see ``batch_outputs``), ``trajectories/<id>.jsonl``,
``results.jsonl`` (one line per attempt, errors included), ``summary.json``, ``run.json``
(the model and config: a rerun with others is refused) and ``checkpoints.sqlite`` (an
instance killed mid-episode resumes from its last step). Instances with a model outcome
are skipped on a rerun; errored ones are tried again.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from patchloop.agent.batch_outputs import Predictions, check_run, finished_ids
from patchloop.agent.state import AgentConfig
from patchloop.types import Task, append_jsonl, iter_jsonl, write_json

__all__ = ["finished_ids", "run_batch", "safe_name", "solve_instance"]


def safe_name(instance_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", instance_id)[:150] or "instance"


def solve_instance(task: Task, out: str, model_spec: str, base_url: str | None, cfg: dict,
                   backend: str = "auto", sampling: dict | None = None, model_factory: Callable | None = None) -> dict:
    """One instance end to end; never raises (the batch boundary): errors become a row.
    ``sampling`` (``temperature``, ``seed``) goes to the model; unset keys keep the backend's defaults."""
    from patchloop.agent.runner import open_checkpointer, run_episode
    from patchloop.agent.trajectory import write_trajectory
    from patchloop.agent.workspace import open_workspace

    t0 = time.monotonic()
    try:
        if model_factory is not None:
            model = model_factory()
        else:
            from patchloop.llm import load_chat_model

            model = load_chat_model(model_spec, base_url=base_url, max_tokens=cfg["completion_tokens"], **(sampling or {}))
        conf = AgentConfig(**cfg)
        with open_workspace(task, backend) as (sb, python):
            conf = conf.model_copy(update={"python": python})
            traj = run_episode(model, sb, task, conf, checkpointer=open_checkpointer(Path(out) / "checkpoints.sqlite"),
                               thread_id=task.instance_id, model_name=model_spec)
        path = Path(out) / "trajectories" / f"{safe_name(task.instance_id)}.jsonl"
        write_trajectory(path, traj)
        return {"instance_id": task.instance_id, "status": "done", "exit_reason": traj.exit_reason,
                "steps": len(traj.steps), "prompt_tokens": traj.prompt_tokens,
                "completion_tokens": traj.completion_tokens, "wall_s": round(time.monotonic() - t0, 3),
                "model_patch": traj.model_patch, "trajectory": str(path)}
    except Exception as e:  # noqa: BLE001 - the batch boundary: one bad instance must not stop the batch; it is counted
        return {"instance_id": task.instance_id, "status": "error", "error": f"{type(e).__name__}: {e}",
                "wall_s": round(time.monotonic() - t0, 3), "traceback": traceback.format_exc()[-2000:]}


def run_batch(tasks: list[Task], out: str | Path, *, model_spec: str, base_url: str | None = None,
              cfg: AgentConfig | None = None, workers: int = 1, executor: str = "local",
              backend: str = "auto", model_factory: Callable | None = None,
              on_result: Callable[[dict, dict], None] | None = None, ray_address: str | None = None,
              sampling: dict | None = None) -> dict:
    """Run every unfinished task; return the summary (also written to summary.json).
    ``sampling``: the model's ``temperature`` and ``seed`` (0: greedy), part of the run's identity."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_d = (cfg or AgentConfig()).model_dump()
    sampling = {k: v for k, v in (sampling or {}).items() if v is not None}
    check_run(out, model_spec, cfg_d, sampling)  # raises RunMismatch before anything is written
    preds = Predictions(out)
    done = preds.finished()
    todo = [t for t in tasks if t.instance_id not in done]
    counts = {"total": len(tasks), "done": len(tasks) - len(todo), "errors": 0, "skipped": len(tasks) - len(todo)}
    t0 = time.monotonic()
    rows = _latest_rows(out)

    def record(row: dict) -> None:
        patch = row.pop("model_patch", "")
        counts["done" if row["status"] == "done" else "errors"] += 1
        append_jsonl(out / "results.jsonl", row)
        # The prediction row is written last: a model outcome there marks the instance finished;
        # an error row (empty patch) is what a harness reads until a rerun retries it.
        preds.record(row["instance_id"], model_spec, patch, error=row.get("error") if row["status"] != "done" else None)
        rows[row["instance_id"]] = row
        write_json(out / "summary.json", _summary(rows, counts, model_spec, cfg_d, time.monotonic() - t0))
        if on_result is not None:
            on_result(row, counts)

    args = (str(out), model_spec, base_url, cfg_d, backend, sampling)
    if executor == "ray":
        _run_ray(todo, args, workers, record, ray_address)
    elif workers <= 1:
        for task in todo:
            record(solve_instance(task, *args, model_factory=model_factory))
    else:
        with ThreadPoolExecutor(workers) as pool:
            futs = [pool.submit(solve_instance, t, *args, model_factory=model_factory) for t in todo]
            for fut in as_completed(futs):
                record(fut.result())
    summary = _summary(rows, counts, model_spec, cfg_d, time.monotonic() - t0)
    write_json(out / "summary.json", summary)
    return summary


def select_tasks(dataset: str, instances: str | None, on_error: Callable[[Exception], None]) -> list[Task]:
    """The readable instances of ``dataset`` (``on_error`` hears of each unreadable one), or only
    those ``instances`` names (comma-separated). ``ValueError`` (one line) when an id is not in
    the dataset, since a typo must not start (or silently shrink) a long run, or none is left;
    ``FileNotFoundError``/``ValueError`` from reading the dataset pass through."""
    from patchloop.evals.datasets import load_tasks

    tasks = load_tasks(dataset, on_error=on_error)
    if instances:
        wanted = [i.strip() for i in instances.split(",") if i.strip()]
        unknown = sorted(set(wanted) - {t.instance_id for t in tasks})
        if unknown:
            raise ValueError(f"--instances names {len(unknown)} id(s) not in {dataset}: "
                             f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
        tasks = [t for t in tasks if t.instance_id in set(wanted)]
    if not tasks:
        raise ValueError(f"no readable instances in {dataset}")
    return tasks


def finished_count(tasks: list[Task], out: Path) -> int:
    """How many of ``tasks`` a run directory already holds a finished prediction for."""
    return len({t.instance_id for t in tasks} & finished_ids(out)) if out.exists() else 0


def _run_ray(todo: list[Task], args: tuple, workers: int, record: Callable[[dict], None], address: str | None) -> None:
    """Each instance a Ray task with its own sandbox; the driver alone writes the outputs."""
    import ray

    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(solve_instance)
        pending = [remote.remote(t, *args) for t in todo]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            record(ray.get(ready[0]))
    finally:
        if started:
            ray.shutdown()


def _latest_rows(out: Path) -> dict[str, dict]:
    """The latest results.jsonl row per instance (earlier runs of this batch included)."""
    rows: dict[str, dict] = {}
    if (out / "results.jsonl").exists():
        for r in iter_jsonl(out / "results.jsonl", skip_bad=True):
            rows[str(r.get("instance_id", "?"))] = r
    return rows


def _summary(rows: dict[str, dict], counts: dict, model_spec: str, cfg: dict, wall_s: float) -> dict:
    """Totals over the latest row per instance."""
    per = [{k: r.get(k) for k in ("instance_id", "status", "exit_reason", "steps", "prompt_tokens",
                                   "completion_tokens", "wall_s", "error")} for r in rows.values()]
    return {"model": model_spec, "config": cfg, **counts, "wall_s": round(wall_s, 3),
            "steps": sum(r.get("steps") or 0 for r in per),
            "tokens": sum((r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0) for r in per),
            "exit_reasons": {k: sum(1 for r in per if r.get("exit_reason") == k)
                             for k in sorted({r.get("exit_reason") for r in per if r.get("exit_reason")})},
            "instances": per}
