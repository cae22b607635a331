"""Real rollouts: the tiny model acting through the agent in Docker sandboxes on a built-in
instance, two at a time, graded by the harness in fresh containers. The tiny model fixes
nothing; what must hold is the plumbing: every model turn's sampled ids and logprobs kept,
rollouts seeded apart, the time split recorded."""

from __future__ import annotations

import json

from patchloop.agent.trajectory import read_trajectory
from patchloop.rl.agentic.config import AgentSettings, RolloutSettings
from patchloop.rl.agentic.rollouts import run_rollouts
from tests.agent.conftest import load_instance


def test_tiny_model_rollouts_in_docker(tiny_dir, docker_client, tmp_path):
    agent = AgentSettings(max_steps=2, context_tokens=4096, completion_tokens=16, repo_map_tokens=200,
                          action_mode="text")
    s = RolloutSettings(backend="docker", samples_per_task=2, workers=2, temperature=1.0, agent=agent)
    rows = run_rollouts(s, tmp_path, model_spec=f"hf:{tiny_dir}", tasks=[load_instance("textkit-1")],
                        progress=False)
    assert json.loads((tmp_path / "settings.json").read_text())["backend"] == "docker"
    assert [r["sample"] for r in rows] == [0, 1]
    sampled = []
    for r in rows:
        assert not r["masked"] and r["error"] is None and r["exit_reason"] == "max_steps", r
        assert r["reward"] == 0.0 and r["verdict"] in ("empty_patch", "unresolved", "patch_failed")
        assert r["model_s"] > 0 and r["sandbox_s"] > 0
        traj = read_trajectory(tmp_path / r["trajectory"])
        assert len(traj.steps) == 2
        for step in traj.steps:
            assert step.token_ids and len(step.token_ids) == len(step.logprobs) <= 16
            assert all(lp <= 0 for lp in step.logprobs)
        sampled.append([s.token_ids for s in traj.steps])
    assert sampled[0] != sampled[1]  # each rollout has its own seed
