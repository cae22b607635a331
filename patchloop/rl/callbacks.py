"""Trainer callbacks: a per-step JSONL log, a wall-clock budget, and GRPO step timing.

TRL already computes reward mean/std, KL, entropy and the share of zero-variance groups; the
JSONL log only writes what ``on_log`` receives, one fsynced line per logging step, so a killed
run keeps every finished step and the demo report can plot curves without TensorBoard.
"""

from __future__ import annotations

import time
from pathlib import Path

from transformers import TrainerCallback

from patchloop.types import append_jsonl


def run_callbacks(out: str | Path, name: str, max_wall_s: float | None, timer: StepTimer | None = None) -> list:
    """The callbacks every training run has: ``out/metrics.jsonl``, the ``[name]`` progress
    lines (and a live step spinner at a terminal) and, with ``max_wall_s``, the wall-clock budget; with a ``timer`` (GRPO) it comes
    first, so its step times are ready when the log line is written."""
    from patchloop.rl.step_spinner import StepSpinner

    callbacks = [JsonlMetricsCallback(Path(out) / "metrics.jsonl", timer=timer), ProgressCallback(name),
                 StepSpinner(name)]
    if timer is not None:
        callbacks.insert(0, timer)
    if max_wall_s:
        callbacks.append(WallBudgetCallback(max_wall_s))
    return callbacks


class JsonlMetricsCallback(TrainerCallback):
    """Append ``{"step", "epoch", "time_s", <metrics>}`` to ``path`` at every log event."""

    def __init__(self, path: str | Path, timer: StepTimer | None = None):
        self.path = Path(path)
        self.timer = timer
        self._t0 = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        rec = {"step": state.global_step, "epoch": state.epoch, "time_s": round(time.monotonic() - self._t0, 3)}
        rec.update({k: v for k, v in logs.items() if isinstance(v, (int, float, str, bool))})
        if self.timer is not None:
            rec.update(self.timer.drain())
        append_jsonl(self.path, rec)


class ProgressCallback(TrainerCallback):
    """One line per log event and per checkpoint on stdout: what a user watching a long CPU
    run wants to see (tqdm bars are off, they do not survive redirection to a log file)."""

    def __init__(self, name: str):
        self.name = name

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return
        keys = ("loss", "reward", "reward_std", "pass_rate", "groups_kept", "agent/resolved", "agent/masked", "kl",
                "entropy", "mean_token_accuracy")
        shown = " ".join(f"{k}={logs[k]:.4g}" for k in keys if isinstance(logs.get(k), (int, float)))
        print(f"[{self.name}] step {state.global_step}/{state.max_steps} {shown}", flush=True)

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            print(f"[{self.name}] checkpoint saved: {args.output_dir}/checkpoint-{state.global_step}", flush=True)


class WallBudgetCallback(TrainerCallback):
    """Stop cleanly (saving a checkpoint) once ``max_wall_s`` seconds of training have passed:
    the learning benchmark compares methods at equal wall time."""

    def __init__(self, max_wall_s: float):
        self.max_wall_s = max_wall_s
        self._t0 = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._t0 = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self._t0 is not None and time.monotonic() - self._t0 >= self.max_wall_s:
            control.should_training_stop = True
            control.should_save = True


class StepTimer(TrainerCallback):
    """Splits GRPO step time into generation, reward and optimisation (the rest of the step).

    ``wrap`` times a bound method of the trainer in place (generation), ``add`` takes time
    measured elsewhere (the reward function reports its own).
    """

    def __init__(self):
        self.totals = {"generation_s": 0.0, "reward_s": 0.0, "step_s": 0.0}
        self._window = dict(self.totals)
        self._notes: dict[str, float] = {}
        self._t = None

    def wrap(self, obj, name: str, key: str) -> None:
        inner = getattr(obj, name)

        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return inner(*a, **kw)
            finally:
                self.add(key, time.perf_counter() - t)

        setattr(obj, name, timed)

    def add(self, key: str, seconds: float) -> None:
        """Count ``seconds`` under ``key``; keys beyond the three are reported as they come
        (agentic GRPO splits generation into model, sandbox and grading time)."""
        self.totals[key] = self.totals.get(key, 0.0) + seconds
        self._window[key] = self._window.get(key, 0.0) + seconds

    def note(self, values: dict[str, float]) -> None:
        """Figures of this step that are not times (the engine's sampler mismatch), logged once."""
        self._notes.update(values)

    def on_step_begin(self, args, state, control, **kwargs):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._t is not None:
            self.add("step_s", time.perf_counter() - self._t)

    def drain(self) -> dict[str, float]:
        w = self._window
        out = {f"time/{k}": round(v, 4) for k, v in w.items()}
        out["time/optimisation_s"] = round(max(0.0, w["step_s"] - w["generation_s"] - w["reward_s"]), 4)
        self._window = dict.fromkeys(w, 0.0)
        out.update({f"sampling/{k}": round(v, 6) for k, v in self._notes.items()})
        self._notes = {}
        return out
