"""Rollout control flow with a scripted model and the real local sandbox and harness: rows are
written item by item, finished rollouts are skipped on a rerun, other settings are refused, and a
rollout that crashes its sandbox, hangs or overflows its context is a masked row, not a failed run."""

from __future__ import annotations

import json
import threading

import pytest

from patchloop.agent.trajectory import read_trajectory
from patchloop.rl.agentic.config import AgentSettings, RolloutSettings
from patchloop.rl.agentic.rollouts import RolloutSettingsMismatch, load_rows, run_rollouts
from tests.agent.agent_scripted import ScriptedChatModel, call
from tests.agent.conftest import load_instance

FIX = [call("edit", path="textkit/trunc.py", old="    if len(text) < width:", new="    if len(text) <= width:"),
       call("submit")]
HACK = [call("edit", path="tests/test_trunc.py", old="import pytest", new="import pytest  # fine"), *FIX]


def settings(**kw) -> RolloutSettings:
    agent = AgentSettings(max_steps=4, context_tokens=8000, completion_tokens=64, repo_map_tokens=200)
    return RolloutSettings(**{"backend": "local", "samples_per_task": 2, "workers": 2, "agent": agent, **kw})


class Models:
    """A model factory that counts what it made and scripts each (task, sample)."""

    def __init__(self, script=None):
        self.made: list[tuple[str, int]] = []
        self.script = script or (lambda task, sample: ScriptedChatModel(replies=FIX))

    def __call__(self, task, sample):
        self.made.append((task.instance_id, sample))
        return self.script(task, sample)


@pytest.fixture(scope="module")
def task():
    return load_instance("textkit-1")


def rows_on_disk(out) -> list[dict]:
    return [json.loads(x) for x in (out / "rollouts.jsonl").read_text().splitlines()]


def test_rollouts_are_graded_written_and_skipped_when_finished(task, tmp_path):
    models = Models(lambda t, k: ScriptedChatModel(replies=FIX if k == 0 else HACK))
    rows = run_rollouts(settings(), tmp_path, model_spec="scripted", tasks=[task], model_factory=models, progress=False)
    assert sorted(models.made) == [("textkit-1", 0), ("textkit-1", 1)]
    fixed, hacked = rows
    assert (fixed["resolved"], fixed["reward"], fixed["verdict"], fixed["masked"]) == (True, 1.0, "resolved", False)
    # the hack also fixes the bug, and the harness alone would resolve it: the reward pays nothing
    assert (hacked["resolved"], hacked["reward"], hacked["verdict"]) == (False, 0.0, "edits_tests")
    assert fixed["grade_s"] > 0 and all(r["sandbox_s"] > 0 and r["model_s"] >= 0 for r in rows)
    traj = read_trajectory(tmp_path / fixed["trajectory"])
    assert traj.exit_reason == "submitted" and "<= width" in traj.model_patch and traj.extra["sample"] == 0
    assert len(rows_on_disk(tmp_path)) == 2 and not list((tmp_path / "checkpoints").glob("*.sqlite"))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["rollouts"], summary["resolved"], summary["tasks_resolved"]) == (2, 1, 1)

    again = Models()
    assert run_rollouts(settings(), tmp_path, model_spec="scripted", tasks=[task], model_factory=again,
                        progress=False) == rows
    assert again.made == [] and len(rows_on_disk(tmp_path)) == 2  # nothing redone, nothing appended
    more = run_rollouts(settings(samples_per_task=3), tmp_path, model_spec="scripted", tasks=[task],
                        model_factory=again, progress=False)
    assert again.made == [("textkit-1", 2)] and [r["sample"] for r in more] == [0, 1, 2]


@pytest.mark.parametrize("change,named", [({"temperature": 0.5}, "temperature"), ({"seed": 3}, "seed"),
                                          ({"agent": AgentSettings(max_steps=9)}, "agent")])
def test_a_rerun_with_other_settings_is_refused(task, tmp_path, change, named):
    run_rollouts(settings(samples_per_task=1), tmp_path, model_spec="scripted", tasks=[task],
                 model_factory=Models(), progress=False)
    with pytest.raises(RolloutSettingsMismatch, match=named) as err:
        run_rollouts(settings(samples_per_task=1, **change), tmp_path, model_spec="scripted", tasks=[task],
                     model_factory=Models(), progress=False)
    assert "\n" not in str(err.value)
    with pytest.raises(RolloutSettingsMismatch, match="model 'scripted', not 'other'"):
        run_rollouts(settings(samples_per_task=1), tmp_path, model_spec="other", tasks=[task],
                     model_factory=Models(), progress=False)


def test_a_sandbox_crash_is_a_masked_row_and_retried_on_a_rerun(task, tmp_path, monkeypatch):
    import patchloop.agent.workspace as workspace

    opened = []
    real = workspace.task_sandbox
    monkeypatch.setattr(workspace, "task_sandbox", lambda *a, **kw: opened.append(real(*a, **kw)) or opened[-1])

    def kill_the_sandbox(turn):
        if turn == 1:  # after the first edit: the runner dies under the agent
            opened[-1][0].proc.kill()

    crashing = Models(lambda t, k: ScriptedChatModel(replies=FIX, on_call=kill_the_sandbox if k == 0 else None))
    rows = run_rollouts(settings(workers=1), tmp_path, model_spec="scripted", tasks=[task],
                        model_factory=crashing, progress=False)
    assert (rows[0]["masked"], rows[0]["mask_reason"], rows[0]["resolved"]) == (True, "crash", False)
    assert "SandboxError" in rows[0]["error"] and rows[0]["trajectory"] is None
    assert rows[1]["resolved"] and not rows[1]["masked"]  # the run went on, on a fresh sandbox
    assert len(opened) == 2  # the dead sandbox was not handed out again

    retry = Models()
    rows = run_rollouts(settings(workers=1), tmp_path, model_spec="scripted", tasks=[task],
                        model_factory=retry, progress=False)
    assert retry.made == [("textkit-1", 0)] and rows[0]["resolved"] and not rows[0]["masked"]
    assert len(rows_on_disk(tmp_path)) == 3 and load_rows(tmp_path)[("textkit-1", 0)]["resolved"]


def test_a_hanging_rollout_is_abandoned_and_masked(task, tmp_path):
    release = threading.Event()
    hang = Models(lambda t, k: ScriptedChatModel(replies=FIX, on_call=lambda turn: release.wait(120)))
    try:
        rows = run_rollouts(settings(samples_per_task=1, rollout_wall_s=3), tmp_path, model_spec="scripted",
                            tasks=[task], model_factory=hang, progress=False)
    finally:
        release.set()
    assert (rows[0]["masked"], rows[0]["mask_reason"], rows[0]["reward"]) == (True, "hang", 0.0)
    assert "3 s limit" in rows[0]["error"] and rows[0]["wall_s"] < 60


def test_an_episode_that_outgrows_its_context_is_masked_not_scored(task, tmp_path):
    tight = AgentSettings(max_steps=4, context_tokens=600, completion_tokens=64, repo_map_tokens=200)
    models = Models()
    rows = run_rollouts(settings(samples_per_task=1, agent=tight), tmp_path, model_spec="scripted", tasks=[task],
                        model_factory=models, progress=False)
    assert (rows[0]["exit_reason"], rows[0]["masked"], rows[0]["mask_reason"]) == ("context_full", True, "context")
    assert rows[0]["grade_s"] == 0 and rows[0]["trajectory"]  # recorded, with its trajectory, never graded


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from patchloop.rl.agentic.rollouts import run_rollouts
from tests.agent.agent_scripted import ScriptedChatModel
from tests.agent.conftest import load_instance
from tests.rl.agentic.test_rollouts import FIX, settings

def die(turn):
    if turn == 1:  # the edit has run; the process dies as the model is asked for the next step
        os.kill(os.getpid(), signal.SIGKILL)

run_rollouts(settings(samples_per_task=1, workers=1), Path(sys.argv[1]), model_spec="scripted",
             tasks=[load_instance("textkit-1")], progress=False,
             model_factory=lambda t, k: ScriptedChatModel(replies=FIX, on_call=die))
"""


def test_a_killed_run_resumes_its_rollout_from_the_checkpoint(task, tmp_path):
    """SIGKILL in the middle of an episode: no row was written, the episode's checkpoint was, and
    the rerun continues that episode (the edit is not asked for again) and writes one row."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(tmp_path)], cwd=root, check=False, timeout=300,
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (tmp_path / "rollouts.jsonl").exists() or not rows_on_disk(tmp_path)
    assert list((tmp_path / "checkpoints").glob("*.sqlite"))
    turns = []
    resumed = Models(lambda t, k: ScriptedChatModel(replies=FIX, on_call=turns.append))
    [row] = run_rollouts(settings(samples_per_task=1, workers=1), tmp_path, model_spec="scripted", tasks=[task],
                         model_factory=resumed, progress=False)
    assert turns == [1]  # only the step the kill interrupted: the submit
    assert row["resolved"] and row["steps"] == 2 and len(rows_on_disk(tmp_path)) == 1
