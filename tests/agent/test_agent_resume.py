"""Persistence: a killed run resumes from its checkpoint; checkpoints load strictly;
trajectories round-trip; context fitting shortens old observations first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from patchloop.agent.context import fit_context
from patchloop.agent.runner import open_checkpointer, run_episode
from patchloop.agent.trajectory import read_trajectory, sft_messages, write_trajectory
from tests.agent.agent_scripted import ScriptedChatModel
from tests.agent.conftest import agent_config, open_task_sandbox
from tests.agent.test_agent_graph import FIX_SCRIPT, _task

HERE = Path(__file__).resolve().parent


def test_a_killed_run_resumes_from_its_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt.sqlite"
    env = {**os.environ, "PYTHONPATH": f"{HERE}:{HERE.parents[1]}", "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, str(HERE / "agent_killable.py"), str(tmp_path / "killed"),
                             str(ckpt), "thread-1", "4"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "AT 4"  # the edit (turn 3) is done and checkpointed
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    turns = []
    model = ScriptedChatModel(replies=FIX_SCRIPT, on_call=turns.append)
    with open_task_sandbox(_task(), tmp_path / "fresh") as sb:  # a fresh workspace: the old one died with the run
        traj = run_episode(model, sb, _task(), agent_config(max_steps=10), checkpointer=open_checkpointer(ckpt),
                           thread_id="thread-1")
        assert "<= width" in sb.read_file("textkit/trunc.py")  # the edit came back from the checkpoint
    assert turns == [4, 5]  # only run_tests and submit were left
    assert traj.exit_reason == "submitted" and len(traj.steps) == 6
    assert "passed" in traj.steps[4].observations[0]
    assert "+    if len(text) <= width:" in traj.model_patch


def test_checkpoints_do_not_rebuild_arbitrary_types(tmp_path):
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    saver = open_checkpointer(tmp_path / "c.sqlite")
    from patchloop.types import ExecResult

    # a checkpoint naming a class outside the allow-list: the permissive default would rebuild it
    forged = JsonPlusSerializer(allowed_msgpack_modules=True).dumps_typed(ExecResult(cmd="x", exit_code=0))
    assert isinstance(JsonPlusSerializer(allowed_msgpack_modules=True).loads_typed(forged), ExecResult)
    assert not isinstance(saver.serde.loads_typed(forged), ExecResult)
    msg = AIMessage(content="hi", tool_calls=[{"name": "view", "args": {"path": "a"}, "id": "1"}])
    assert saver.serde.loads_typed(saver.serde.dumps_typed(msg)) == msg  # our own state still loads


def test_trajectory_file_round_trips(textkit_sandbox, tmp_path):
    traj = run_episode(ScriptedChatModel(replies=FIX_SCRIPT), textkit_sandbox, _task(), agent_config(), model_name="m")
    path = tmp_path / "t.jsonl"
    write_trajectory(path, traj)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + len(traj.steps)
    back = read_trajectory(path)
    assert back.to_dict() == traj.to_dict()
    msgs = sft_messages(back)
    assert [m["role"] for m in msgs[:3]] == ["system", "user", "assistant"]
    assert msgs[2]["tool_calls"][0]["function"]["name"] == "repo_map"
    assert msgs[3]["role"] == "tool"
    assert {t["function"]["name"] for t in back.extra["tools"]} >= {"edit", "submit"}
    assert all(s.model_s >= 0 and s.tools_s > 0 for s in back.steps)


def test_reading_a_broken_trajectory_names_the_line(tmp_path):
    import pytest

    from patchloop.types import RecordError

    path = tmp_path / "t.jsonl"
    path.write_text('{"type": "episode", "instance_id": "x"}\n{"type": "step", "index": \n')
    with pytest.raises(RecordError, match=r"t.jsonl:2: "):
        read_trajectory(path)


def test_fit_context_shortens_oldest_observations_first():
    msgs = [SystemMessage("sys"), HumanMessage("task " * 50)]
    for i in range(6):
        msgs.append(AIMessage(content="", tool_calls=[{"name": "view", "args": {"path": f"f{i}"}, "id": f"c{i}"}]))
        msgs.append(ToolMessage(f"obs{i} " + "x" * 4000, tool_call_id=f"c{i}"))
    out = fit_context(msgs, context_tokens=4000, reserve=500)
    sizes = [len(m.content) for m in out if isinstance(m, ToolMessage)]
    assert sizes[0] < 1000 and sizes[-1] > 4000  # oldest cut, latest whole
    assert sizes == sorted(sizes)
    assert out[1].content == msgs[1].content  # the task is never cut
    assert len(msgs[3].content) > 4000  # the state itself is untouched
    assert fit_context(msgs, context_tokens=10**6) == msgs
