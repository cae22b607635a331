"""One rollout end to end: a warm sandbox from the pool, the agent (``run_episode``, the code
``patchloop batch`` runs, with its tools, prompts and config), then the reward on the diff alone.

A ``RolloutWorker`` owns a ``SandboxPool``: the thread executor shares one worker between its
threads, the Ray executor makes one worker per actor, so the actor owns its sandboxes. ``run``
never raises: whatever goes wrong with one rollout becomes its row, masked with the reason,
and the run goes on. A rollout's trajectory is returned to the caller, which alone writes files
(one writer, whole lines).
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from patchloop.rl.agentic.config import RolloutSettings
from patchloop.types import Task

RETRIED = ("crash", "grade_error")  # infrastructure, not the policy: a rerun tries these again
_EXIT_MASKS = {"context_full": "context", "max_wall_s": "wall_limit"}  # mask_reason of a cut episode
HANG_GRACE_S = 120.0


class RolloutHung(RuntimeError):
    """The rollout ran past its hard wall-clock limit and was abandoned."""


def rollout_name(task_id: str, sample: int) -> str:
    from patchloop.agent.batch import safe_name

    return f"{safe_name(task_id)}__{sample}"


def sample_seed(seed: int, task_id: str, sample: int) -> int:
    """The sampling seed of one rollout: stable across runs and machines, distinct per rollout."""
    return int(hashlib.sha256(f"{seed}:{task_id}:{sample}".encode()).hexdigest()[:8], 16)


def new_row(task_id: str, sample: int) -> dict:
    """A rollout row as ``rollouts.jsonl`` holds it (see docs/agentic-rl.md), before anything ran."""
    return {"task_id": task_id, "sample": sample, "resolved": False, "reward": 0.0, "exit_reason": "",
            "masked": False, "mask_reason": "", "trajectory": None, "model_s": 0.0, "sandbox_s": 0.0,
            "grade_s": 0.0, "error": None, "verdict": "", "reason": "", "steps": 0, "wall_s": 0.0}


def with_deadline(fn: Callable[[], object], seconds: float):
    """``fn()``, or ``RolloutHung`` once ``seconds`` have passed (``fn`` is then left running in
    its daemon thread: a Python thread cannot be killed, so the caller cuts what it holds)."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 -- handed to the caller as is
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True, name="rollout")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise RolloutHung(f"the rollout ran past its {seconds:.0f} s limit and was abandoned")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _context_error(e: Exception) -> bool:
    """An endpoint refusing a prompt longer than its window (HTTP 400 from vLLM and others)."""
    text = str(e).lower()
    return "context" in text and any(w in text for w in ("length", "maximum", "window", "too long"))


class RolloutWorker:
    """Runs rollouts on its own pool of sandboxes (see the module docstring)."""

    def __init__(self, settings: RolloutSettings | dict, model_spec: str, out: str | Path,
                 model_factory: Callable[[Task, int], object] | None = None):
        from patchloop.sandbox.pool import SandboxPool

        self.s = settings if isinstance(settings, RolloutSettings) else RolloutSettings.model_validate(settings)
        self.spec, self.out, self.model_factory = model_spec, Path(out), model_factory
        self.wall_s = self.s.rollout_wall_s or self.s.agent.max_wall_s + HANG_GRACE_S
        self._tasks: dict[str, Task] = {}
        self._python: dict[int, str] = {}
        self.pool = SandboxPool(self._open, size=self.s.workers, max_idle=self.s.workers)

    def _open(self, task_id: str):
        from patchloop.agent.workspace import task_sandbox

        sb, python = task_sandbox(self._tasks[task_id], self.s.backend)
        self._python[id(sb)] = python
        return sb

    def model(self, task: Task, sample: int):
        """The acting model for one rollout, seeded for it; token ids and logprobs asked for."""
        if self.model_factory is not None:
            return self.model_factory(task, sample)
        from patchloop.llm import load_chat_model

        kw = {"max_tokens": self.s.agent.completion_tokens, "temperature": self.s.temperature,
              "top_p": self.s.top_p, "seed": sample_seed(self.s.seed, task.instance_id, sample),
              "return_token_ids": True}
        if self.spec.startswith("openai:"):
            kw["logprobs"] = True
        return load_chat_model(self.spec, base_url=self.s.base_url, **kw)

    def checkpoint_path(self, task_id: str, sample: int) -> Path:
        return self.out / "checkpoints" / f"{rollout_name(task_id, sample)}.sqlite"

    def run(self, task: Task | dict, sample: int) -> tuple[dict, dict | None]:
        """``(row, trajectory as a dict or None)`` of one rollout; never raises."""
        task = Task.from_dict(task) if isinstance(task, dict) else task
        row = new_row(task.instance_id, sample)
        t0 = time.monotonic()
        traj = None
        try:
            traj = self._episode(task, sample, row)
            self._grade(task, traj, row)
        except RolloutHung as e:
            row.update(masked=True, mask_reason="hang", error=str(e))
        except Exception as e:  # noqa: BLE001 -- the rollout boundary: one broken rollout is a masked row
            row.update(masked=True, mask_reason="context" if _context_error(e) else "crash",
                       error=f"{type(e).__name__}: {e}"[:2000])
        row["wall_s"] = round(time.monotonic() - t0, 3)
        if row["mask_reason"] != "hang":  # an abandoned episode may still write to its checkpoint
            self.checkpoint_path(task.instance_id, sample).unlink(missing_ok=True)
        if traj is not None:
            traj.extra.update(sample=sample, seed=sample_seed(self.s.seed, task.instance_id, sample))
            row["trajectory"] = f"trajectories/{rollout_name(task.instance_id, sample)}.jsonl"
        return row, traj.to_dict() if traj is not None else None

    def _episode(self, task: Task, sample: int, row: dict):
        """Run the agent in a pooled sandbox (resuming a checkpoint a killed run left)."""
        from patchloop.agent.runner import open_checkpointer, run_episode
        from patchloop.agent.state import AgentConfig

        self._tasks[task.instance_id] = task
        t = time.monotonic()
        with self.pool.acquire(task.instance_id) as sb:
            row["sandbox_s"] = time.monotonic() - t
            cfg = AgentConfig(**{**self.s.agent.model_dump(), "python": self._python.get(id(sb), sys.executable)})
            model = self.model(task, sample)
            ckpt = open_checkpointer(self.checkpoint_path(task.instance_id, sample))
            try:
                traj = with_deadline(lambda: run_episode(model, sb, task, cfg, checkpointer=ckpt,
                                                         thread_id=rollout_name(task.instance_id, sample),
                                                         model_name=self.spec), self.wall_s)
            except RolloutHung:
                sb.close()  # cuts the abandoned episode off; the pool discards a sandbox it cannot reset
                raise
            except BaseException:
                ckpt.conn.close()
                raise
            ckpt.conn.close()
        row.update(exit_reason=traj.exit_reason, steps=len(traj.steps),
                   model_s=round(sum(s.model_s for s in traj.steps), 3),
                   sandbox_s=round(row["sandbox_s"] + sum(s.tools_s for s in traj.steps), 3))
        return traj

    def _grade(self, task: Task, traj, row: dict) -> None:
        """The reward, unless the episode ended in a way that is masked instead of scored."""
        from patchloop.rl.agentic.reward import grade_patch

        if traj.exit_reason in self.s.mask_exit_reasons:
            row.update(masked=True, mask_reason=_EXIT_MASKS.get(traj.exit_reason, traj.exit_reason))
            return
        g = grade_patch(task, traj.model_patch, backend=self.s.backend, timeout=self.s.grade_timeout_s,
                        log_dir=self.out / "grades" / rollout_name(task.instance_id, row["sample"]))
        row.update(resolved=g.resolved, reward=g.reward or 0.0, verdict=g.verdict, reason=g.reason[:500],
                   grade_s=g.grade_s)
        if g.reward is None:
            row.update(masked=True, mask_reason="grade_error", error=g.reason[:2000])

    def close(self) -> None:
        self.pool.close()
