"""Batch logic with a scripted model: errors are recorded and the batch goes on; finished
instances are skipped on restart, errored ones tried again."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from patchloop.agent.batch import run_batch
from patchloop.agent.batch_outputs import RunMismatch
from patchloop.agent.trajectory import read_trajectory
from patchloop.evals.datasets import load_predictions
from patchloop.types import Task
from tests.agent.agent_scripted import ScriptedChatModel
from tests.agent.conftest import EXAMPLES, agent_config, load_instance
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
    # every instance has a row a harness can read; the errored one an empty patch and the cause
    preds = load_predictions(tmp_path / "run" / "predictions.jsonl", [broken, good])
    assert sorted(preds) == ["broken-1", "textkit-1"] and "<= width" in preds["textkit-1"].model_patch
    assert preds["broken-1"].model_patch == "" and "missing" in preds["broken-1"].extra["error"]
    assert read_trajectory(tmp_path / "run" / "trajectories" / "textkit-1.jsonl").exit_reason == "submitted"

    seen.clear()
    again = run_batch([broken, good], tmp_path / "run", **kw)
    assert seen == [("broken-1", "error")]  # the finished one is skipped, the failed one retried
    assert again["skipped"] == 1 and again["done"] == 1
    assert len((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()) == 2  # one row each, never two

    (tmp_path / "missing").symlink_to(EXAMPLES / "repos" / "textkit")  # the infrastructure is back
    seen.clear()
    third = run_batch([broken, good], tmp_path / "run", **kw)
    assert seen == [("broken-1", "done")] and third["errors"] == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert [(r["instance_id"], "error" in r) for r in rows] == [("broken-1", False), ("textkit-1", False)]


def test_a_rerun_with_another_model_or_config_is_refused(tmp_path):
    kw = {"backend": "local", "model_factory": lambda: ScriptedChatModel(replies=FIX_SCRIPT)}
    tasks = [load_instance("textkit-1")]
    run_batch(tasks, tmp_path / "run", model_spec="scripted", cfg=agent_config(max_steps=10), **kw)
    before = (tmp_path / "run" / "predictions.jsonl").read_text()
    with pytest.raises(RunMismatch, match=r"model 'scripted', not 'other'"):
        run_batch(tasks, tmp_path / "run", model_spec="other", cfg=agent_config(max_steps=10), **kw)
    with pytest.raises(RunMismatch, match=r"max_steps 10, not 3"):
        run_batch(tasks, tmp_path / "run", model_spec="scripted", cfg=agent_config(max_steps=3), **kw)
    assert (tmp_path / "run" / "predictions.jsonl").read_text() == before
    same = run_batch(tasks, tmp_path / "run", model_spec="scripted", cfg=agent_config(max_steps=10), **kw)
    assert same["skipped"] == 1  # the same settings resume

    out = batch_cli("--model", "openai:other", "--out", str(tmp_path / "run"))
    assert out.returncode == 2 and "was made with model 'scripted', not 'openai:other'" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def batch_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "patchloop", "batch", "--dataset", "builtin", "--backend", "local", *args],
                          capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "COLUMNS": "200"})


def test_unknown_instance_ids_are_an_error(tmp_path):
    out = batch_cli("--model", "openai:m", "--out", str(tmp_path / "run"), "--instances", "textkit-1,nope-1")
    assert out.returncode == 2 and "--instances names 1 id(s) not in builtin: nope-1" in out.stderr
    assert not (tmp_path / "run" / "predictions.jsonl").exists()


def test_sampling_settings_reach_the_model_and_are_part_of_the_run(tmp_path, monkeypatch):
    import patchloop.llm

    calls = []

    def fake_load(spec, **kw):  # what solve_instance asks the backend for, answered by a script
        calls.append(kw)
        return ScriptedChatModel(replies=FIX_SCRIPT)

    monkeypatch.setattr(patchloop.llm, "load_chat_model", fake_load)
    tasks, cfg = [load_instance("textkit-1")], agent_config(max_steps=10)
    run_batch(tasks, tmp_path / "run", model_spec="hf:m", cfg=cfg, backend="local", sampling={"temperature": 0.0})
    assert calls and calls[0]["temperature"] == 0.0 and "seed" not in calls[0]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["sampling"] == {"temperature": 0.0}
    with pytest.raises(RunMismatch, match=r"sampling \{'temperature': 0.0\}, not 'the default'"):
        run_batch(tasks, tmp_path / "run", model_spec="hf:m", cfg=cfg, backend="local")
    with pytest.raises(RunMismatch, match=r"sampling .*, not \{'temperature': 0.7, 'seed': 3\}"):
        run_batch(tasks, tmp_path / "run", model_spec="hf:m", cfg=cfg, backend="local",
                  sampling={"temperature": 0.7, "seed": 3})


def test_a_negative_temperature_is_refused(tmp_path):
    out = batch_cli("--model", "openai:m", "--out", str(tmp_path / "run"), "--temperature", "-1")
    assert out.returncode == 2 and "--temperature" in out.stderr and not (tmp_path / "run").exists()
