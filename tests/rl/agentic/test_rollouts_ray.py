"""Rollouts on Ray: one actor per worker owns its sandboxes and its copy of the model; the
driver alone writes the rows and trajectories, and a rerun finds nothing left to do."""

from __future__ import annotations

import pytest

from patchloop.agent.trajectory import read_trajectory
from patchloop.rl.agentic.config import AgentSettings, RolloutSettings
from patchloop.rl.agentic.rollouts import run_rollouts
from tests.agent.conftest import load_instance

pytestmark = pytest.mark.slow  # a local Ray instance and a model load per actor: about a minute


def test_rollouts_on_ray_actors(tiny_dir, tmp_path):
    agent = AgentSettings(max_steps=1, context_tokens=4096, completion_tokens=8, repo_map_tokens=200,
                          action_mode="text")
    s = RolloutSettings(backend="local", samples_per_task=2, workers=2, executor="ray", agent=agent)
    task = load_instance("textkit-1")
    rows = run_rollouts(s, tmp_path, model_spec=f"hf:{tiny_dir}", tasks=[task], progress=False)
    assert [(r["sample"], r["masked"], r["exit_reason"]) for r in rows] == [(0, False, "max_steps"),
                                                                            (1, False, "max_steps")]
    for r in rows:
        step = read_trajectory(tmp_path / r["trajectory"]).steps[0]
        assert step.token_ids and len(step.logprobs) == len(step.token_ids)
    assert len((tmp_path / "rollouts.jsonl").read_text().splitlines()) == 2
    assert run_rollouts(s, tmp_path, model_spec=f"hf:{tiny_dir}", tasks=[task], progress=False) == rows
