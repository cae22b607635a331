"""A training run visibly alive between its log lines.

A step of GRPO on a CPU can take minutes, and ``ProgressCallback`` prints a line only every
``logging_steps``: in between, the screen stood still. At a terminal this callback keeps one
spinner line under the log with the step being run, of how many, and the time elapsed;
printed lines still appear above it. Off a terminal (a log file) it shows nothing.
"""

from __future__ import annotations

import sys

from transformers import TrainerCallback


class StepSpinner(TrainerCallback):
    """``[name] step N/M`` with a spinner and the elapsed time, while training runs."""

    def __init__(self, name: str, enabled: bool | None = None):
        self.name = name
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar = self.job = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not self.enabled or not state.is_world_process_zero:
            return
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("\\[{task.description}] step {task.completed:.0f}/{task.total:.0f}"),
                            TimeElapsedColumn(), transient=True, console=Console(stderr=True))
        self.job = self.bar.add_task(self.name, total=state.max_steps, completed=state.global_step)
        self.bar.start()

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.job, completed=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
