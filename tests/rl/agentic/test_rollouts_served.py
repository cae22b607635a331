"""Rollouts whose model is an OpenAI-compatible server (`patchloop serve` over real HTTP, as the
GPU presets use vLLM): the trajectory keeps the ids the server sampled and the prompt ids it
was fed, and they become a training sequence with only the sampled ids marked."""

from __future__ import annotations

import subprocess
import sys

import pytest

from patchloop.agent.trajectory import read_trajectory
from patchloop.rl.agentic.config import AgentSettings, RolloutSettings
from patchloop.rl.agentic.rollouts import run_rollouts
from patchloop.rl.agentic.samples import trajectory_segments
from tests.agent.conftest import load_instance

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def served(tiny_dir):
    proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", str(tiny_dir), "--port", "0",
                             "--name", "tiny"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # the ready line, or EOF when serve died
    if "serving" not in line:
        proc.kill()
        pytest.fail(f"serve did not start: {line!r}")
    yield line.split(" at ")[-1].strip()
    proc.terminate()
    proc.wait(timeout=60)


def test_rollouts_from_a_server_keep_its_token_ids_and_train_on_them(served, tiny_dir, tmp_path):
    from transformers import AutoTokenizer

    agent = AgentSettings(max_steps=2, completion_tokens=12, repo_map_tokens=100, focus_tokens=0,
                          empty_submit_retries=0, submit_test_reviews=0)
    cfg = RolloutSettings(backend="local", samples_per_task=1, workers=1, temperature=1.0, model="openai:tiny",
                          base_url=served, agent=agent)
    [row] = run_rollouts(cfg, tmp_path, model_spec="openai:tiny", tasks=[load_instance("textkit-1")], progress=False)
    assert not row["masked"] and row.get("error") in (None, ""), row
    traj = read_trajectory(tmp_path / row["trajectory"])
    assert traj.steps
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    for step in traj.steps:
        assert step.token_ids and step.prompt_token_ids  # asked of the server, and given
        assert len(step.logprobs) == len(step.token_ids)
        assert tok.decode(step.prompt_token_ids).startswith("<|im_start|>system")  # the chat template, as fed
    segments = trajectory_segments(traj)
    sampled = [t for s in traj.steps for t in s.token_ids]
    marked = [i for seg in segments for i, m in zip(seg.input_ids, seg.model_mask) if m]
    assert marked == sampled  # the server's ids, each trained once, and nothing else
