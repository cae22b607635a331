"""Batch logic with a scripted model: errors are recorded and the batch goes on; finished
instances are skipped on restart, errored ones tried again."""

from __future__ import annotations

import json

from patchloop.agent.batch import run_batch
from patchloop.agent.trajectory import read_trajectory
from patchloop.types import Task
from tests.agent.agent_scripted import ScriptedChatModel
from tests.agent.conftest import agent_config, load_instance
from tests.agent.test_agent_graph import FIX_SCRIPT


def test_errors_are_recorded_and_finished_instances_skipped(tmp_path):
    good = load_instance("textkit-1")
    broken = Task.from_dict({**good.to_dict(), "instance_id": "broken-1", "repo_path": str(tmp_path / "missing")})
    seen = []
    kw = {"model_spec": "scripted", "cfg": agent_config(python="python3"), "backend": "local",
          "model_factory": lambda: ScriptedChatModel(replies=FIX_SCRIPT),
          "on_result": lambda row, counts: seen.append((row["instance_id"], row["status"]))}
    summary = run_batch([broken, good], tmp_path / "run", **kw)
    assert seen == [("broken-1", "error"), ("textkit-1", "done")]
    assert summary["done"] == 1 and summary["errors"] == 1 and summary["total"] == 2
    err = next(r for r in summary["instances"] if r["instance_id"] == "broken-1")
    assert "missing" in err["error"]  # the reason names the cause
    preds = [json.loads(x) for x in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert [p["instance_id"] for p in preds] == ["textkit-1"] and "<= width" in preds[0]["model_patch"]
    assert read_trajectory(tmp_path / "run" / "trajectories" / "textkit-1.jsonl").exit_reason == "submitted"

    seen.clear()
    again = run_batch([broken, good], tmp_path / "run", **kw)
    assert seen == [("broken-1", "error")]  # the finished one is skipped, the failed one retried
    assert again["skipped"] == 1 and again["done"] == 1
    assert len((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()) == 1
