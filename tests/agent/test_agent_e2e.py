"""End to end over real HTTP: `patchloop serve` with the tiny model on 127.0.0.1 and
`patchloop batch` against it on two sample instances (local sandbox backend). The tiny
model fixes nothing; the loop must still be sound, within its limits, and resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from patchloop.agent.trajectory import read_trajectory
from patchloop.evals.datasets import load_predictions, load_tasks
from tests.agent.conftest import INSTANCES

pytestmark = pytest.mark.slow  # CPU generation on a shared machine: ~1-2 min each

IDS = ["textkit-1", "intervals-1"]
LIMITS = ["--context", "4096", "--max-new-tokens", "32", "--repo-map-tokens", "300"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from patchloop.llm.catalog.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def tiny_url(tiny_dir):
    model_dir = tiny_dir
    proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", str(model_dir), "--port", "0",
                             "--name", "tiny", "--host", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:  # the server prints this line once it listens
            if line.startswith("serving "):
                yield line.split(" at ")[1].strip()
                break
        else:
            pytest.fail("patchloop serve exited before listening")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _batch_cmd(url: str, out: Path, steps: int = 2) -> list[str]:
    return [sys.executable, "-m", "patchloop", "batch", "--dataset", str(INSTANCES), "--model", "openai:tiny",
            "--base-url", url, "--out", str(out), "--instances", ",".join(IDS), "--backend", "local",
            "--max-steps", str(steps), *LIMITS]


def traj_patch(out: Path, iid: str) -> str:
    return read_trajectory(out / "trajectories" / f"{iid}.jsonl").model_patch


def _predictions(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def test_batch_against_the_served_tiny_model(tiny_url, tmp_path):
    out = tmp_path / "run"
    res = subprocess.run(_batch_cmd(tiny_url, out), capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    preds = _predictions(out)
    assert sorted(p["instance_id"] for p in preds) == sorted(IDS)
    assert all(set(p) == {"instance_id", "model_patch", "model_name_or_path"} for p in preds)
    tasks = load_tasks(INSTANCES)
    assert set(load_predictions(out / "predictions.jsonl", tasks)) == set(IDS)  # the harness reads them as they are
    for iid in IDS:
        traj = read_trajectory(out / "trajectories" / f"{iid}.jsonl")
        assert traj.instance_id == iid and traj.exit_reason in ("max_steps", "submitted", "context_full")
        assert 1 <= len(traj.steps) <= 2
        assert all(s.prompt_tokens > 0 and 0 < s.completion_tokens <= 32 for s in traj.steps)  # served usage
        assert traj.model_patch == next(p["model_patch"] for p in preds if p["instance_id"] == iid)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == 2 and summary["errors"] == 0 and summary["steps"] <= 4
    # and `patchloop eval swe` grades the predictions file unchanged
    ev = subprocess.run([sys.executable, "-m", "patchloop", "eval", "swe", "--dataset", str(INSTANCES),
                         "--predictions", str(out / "predictions.jsonl"), "--run-id", "e2e", "--runs-dir",
                         str(tmp_path / "eval"), "--backend", "local", "--no-progress"],
                        capture_output=True, text=True, timeout=600, check=False)
    report = json.loads((tmp_path / "eval" / "e2e" / "report.json").read_text())
    assert sorted(report["submitted_ids"]) == sorted(IDS), ev.stderr[-2000:]
    assert not report["error_ids"] and not report["incomplete_ids"]
    for iid in IDS:  # a verdict per instance (the tiny model's empty diffs are `empty_patch`)
        expected = "empty_patch" if not traj_patch(out, iid).strip() else None
        assert expected is None or iid in report["empty_patch_ids"]


def test_a_killed_batch_restarts_on_ray_and_writes_each_instance_once(tiny_url, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_batch_cmd(tiny_url, out, steps=1), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        for line in proc.stderr:  # one line per finished instance
            if line.startswith("done "):
                break
        else:
            pytest.fail("the batch ended before finishing an instance")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its sandboxes, mid second instance
        proc.wait(timeout=30)
    first = [p["instance_id"] for p in _predictions(out)]
    assert len(first) == 1
    # the restart runs the rest as Ray tasks (a local Ray), each with its own sandbox
    res = subprocess.run(_batch_cmd(tiny_url, out, steps=1) + ["--executor", "ray", "--workers", "2"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Started a local Ray instance" in res.stderr
    ids = [p["instance_id"] for p in _predictions(out)]
    assert sorted(ids) == sorted(IDS) and len(ids) == 2  # each exactly once
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"] == 1 and summary["done"] == 2
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["instance_id"] for r in rows].count(first[0]) == 1  # the finished one did not run again


def test_fix_at_the_terminal_leaves_the_tree_alone_without_a_diff(tiny_url, tmp_path):
    from patchloop.evals.repos import checkout_task_repo

    repo = checkout_task_repo(load_tasks(INSTANCES)[0], tmp_path / "mine")
    before = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=False).stdout
    env = {**os.environ, "PATCHLOOP_CACHE": str(tmp_path / "cache"), "COLUMNS": "120"}
    res = subprocess.run([sys.executable, "-m", "patchloop", "fix", "--repo", str(repo), "--issue", "truncate is wrong",
                          "--model", "openai:tiny", "--base-url", tiny_url, "--approve", "auto", "--max-steps", "1",
                          "--backend", "local", *LIMITS], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=env, check=False)
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]  # 1: no diff was produced
    assert "thread fix-" in res.stdout and "1 steps" in res.stdout and "no changes" in res.stdout
    thread = res.stdout.split("thread ")[1].split()[0]
    assert (tmp_path / "cache" / "fix" / "threads" / f"{thread}.json").exists()  # --resume finds it
    after = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=False).stdout
    assert after == before


def test_local_backend_trajectories_carry_sampled_tokens(tiny_dir, textkit_sandbox, tmp_path):
    from patchloop.agent.runner import run_episode
    from patchloop.agent.trajectory import write_trajectory
    from patchloop.llm import load_chat_model
    from tests.agent.conftest import agent_config

    model = load_chat_model(f"hf:{tiny_dir}", max_tokens=16, seed=0)
    cfg = agent_config(max_steps=2, context_tokens=4096, completion_tokens=16, repo_map_tokens=300)
    traj = run_episode(model, textkit_sandbox, load_tasks(INSTANCES)[0], cfg, model_name=f"hf:{tiny_dir}")
    write_trajectory(tmp_path / "t.jsonl", traj)
    back = read_trajectory(tmp_path / "t.jsonl")
    assert back.exit_reason in ("max_steps", "submitted", "context_full") and back.steps
    for step in back.steps:  # exactly what was sampled, for RL: one logprob per generated token
        assert step.token_ids and len(step.token_ids) == len(step.logprobs) == step.completion_tokens <= 16
        assert all(isinstance(t, int) for t in step.token_ids) and all(lp <= 0 for lp in step.logprobs)
