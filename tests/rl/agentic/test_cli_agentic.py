"""The agentic train commands end to end, in process: rollouts of the untrained tiny model on
one built-in instance (local sandbox), then RFT on them, which has nothing resolved to learn
from and says so in one line; a bad model is one line before anything runs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from patchloop.cli import app


def _rollouts(tiny_dir, out, *extra):
    return ["--model", str(tiny_dir), "rollouts.instances=[textkit-1]", "--samples-per-task", "2",
            "--backend", "local", "--rollouts.agent.max-steps", "1", "--completion-tokens", "8",
            "--context-tokens", "4096", "--repo-map-tokens", "100", "--action-mode", "text",
            f"--rollouts.output-dir={out}", *extra]


def test_rollouts_then_rft_with_nothing_resolved(tiny_dir, tmp_path):
    out = tmp_path / "rollouts"
    res = CliRunner().invoke(app, ["train", "agent-rollouts", *_rollouts(tiny_dir, out)])
    assert res.exit_code == 0, res.output
    assert "rollouts: 0 of 2 resolved on 0 of 1 tasks" in res.stdout and str(out) in res.stdout
    rows = [json.loads(x) for x in (out / "rollouts.jsonl").read_text().splitlines()]
    assert sorted((r["task_id"], r["sample"]) for r in rows) == [("textkit-1", 0), ("textkit-1", 1)]  # as they finish

    rft = CliRunner().invoke(app, ["train", "agent-rft", *_rollouts(tiny_dir, out), f"--output={tmp_path / 'rft'}"])
    assert rft.exit_code == 1 and rft.stderr.count("\n") == 1, rft.output
    assert "agent-rft: no resolved rollout to learn from (2 rollouts of 1 tasks)" in rft.stderr
    assert len((out / "rollouts.jsonl").read_text().splitlines()) == 2  # the same rollouts, not redone


def test_a_bad_model_is_one_line_before_anything_runs(tmp_path):
    res = CliRunner().invoke(app, ["train", "agent-rollouts", "--model", str(tmp_path / "nothing"),
                                   f"--rollouts.output-dir={tmp_path / 'r'}", "--backend", "local"])
    assert res.exit_code == 1 and "model path not found" in res.stderr and res.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists()
