"""Waits of unknown length (a model load, a sandbox image build, a training step) show a
spinner at a terminal while they run, and nothing in a log file."""

from __future__ import annotations

import io
import sys
from types import SimpleNamespace

from patchloop.evals.waiting import alive


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_wait_at_a_terminal_shows_what_it_waits_for_while_it_runs(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Tty())
    with alive("loading models/qwen"):
        during = sys.stderr.getvalue()
    assert "loading models/qwen" in during and "0:00:00" in during


def test_a_wait_off_a_terminal_prints_nothing(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with alive("loading models/qwen"):
        pass
    assert sys.stderr.getvalue() == ""


def test_training_shows_the_step_it_is_on_between_log_lines(monkeypatch):
    from patchloop.rl.step_spinner import StepSpinner

    monkeypatch.setattr(sys, "stderr", Tty())
    spinner = StepSpinner("grpo")
    state = SimpleNamespace(is_world_process_zero=True, max_steps=20, global_step=3)
    spinner.on_train_begin(None, state, None)
    assert "[grpo] step 3/20" in sys.stderr.getvalue()
    spinner.on_train_end(None, state, None)
    assert spinner.bar is None
