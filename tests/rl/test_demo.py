"""``patchloop demo --quick`` end to end on the real stack, and its resumability."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from patchloop.evals.training_report import read_metrics

pytestmark = [pytest.mark.train, pytest.mark.slow]


def test_quick_demo_runs_every_stage_then_skips_them(tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "patchloop", "demo", "--quick", "--out", str(out), "--backend", "local"]
    first = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    for name in ("before SFT", "after SFT", "after GRPO"):
        assert f"held-out pass@1 {name:>10}:" in first.stdout
    figures = json.loads((out / "figures.json").read_text())
    assert set(figures["pass@1"]) == {"before SFT", "after SFT", "after GRPO"}
    assert figures["pass@1"]["before SFT"] == 0.0  # an untrained model never stops, never passes
    html = (out / "report.html").read_text()
    assert "Quick run on the tiny model" in html  # the report says which demo it was
    assert html.count("<img src='data:image/png;base64,") == 4  # one file: the plots are inside it
    for png in ("passk.png", "reward.png", "pass_rate.png", "sft_loss.png"):
        assert (out / png).stat().st_size > 1000
    grpo_steps = read_metrics(out / "grpo" / "metrics.jsonl")
    assert grpo_steps and all("pass_rate" in r and "time/generation_s" in r for r in grpo_steps)
    again = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    for stage in ("tiny model", "tasks", "SFT", "GRPO"):
        assert f"{stage}: done earlier, skipped" in again.stdout
    assert json.loads((out / "figures.json").read_text()) == figures


def test_report_skips_torn_metric_lines(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 1, "reward": 0.5}\n{"step": 2, "rew\n{"step": 2, "train_runtime": 3}\n')
    assert read_metrics(p) == [{"step": 1, "reward": 0.5}]
