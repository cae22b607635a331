"""Graph logic with a scripted chat model over a real local sandbox."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from patchloop.agent.runner import open_checkpointer, run_episode
from patchloop.agent.tools import SandboxTools, ToolError
from patchloop.types import Task
from tests.agent.agent_scripted import ScriptedChatModel, call
from tests.agent.conftest import agent_config, load_instance

FIX_SCRIPT = [
    call("repo_map", query="truncate"),
    call("search", pattern="def truncate"),
    call("view", path="textkit/trunc.py"),
    call("edit", path="textkit/trunc.py", old="    if len(text) < width:", new="    if len(text) <= width:"),
    call("run_tests", selector="tests/test_trunc.py"),
    call("submit"),
]


def _task() -> Task:
    return load_instance("textkit-1")


def test_scripted_model_fixes_the_planted_bug(textkit_sandbox):
    model = ScriptedChatModel(replies=FIX_SCRIPT)
    traj = run_episode(model, textkit_sandbox, _task(), agent_config(max_steps=10))
    assert traj.exit_reason == "submitted"
    assert len(traj.steps) == 6 and model.calls == 6
    assert "+    if len(text) <= width:" in traj.model_patch
    obs = [o for s in traj.steps for o in s.observations]
    assert "textkit/trunc.py" in obs[0]  # the repo map lists the file
    assert "textkit/trunc.py:4:def truncate" in obs[1]
    assert "passed" in obs[4] and "failed" not in obs[4]
    # the harness grades the diff in a fresh workspace, with the instance's hidden tests
    from patchloop.evals.swe import evaluate_instance

    result = evaluate_instance(_task(), traj.model_patch, backend="local", timeout=120)
    assert result.verdict == "resolved", result.reason
    assert all(result.tests[t] == "PASSED" for t in _task().FAIL_TO_PASS)


def test_the_workspace_has_no_history_past_base(textkit_sandbox):
    base = _task().base_commit
    assert textkit_sandbox.run("git rev-parse HEAD").stdout.strip() == base
    assert textkit_sandbox.run("git rev-list --all").stdout.split() == [base]
    for cmd in ("git tag", "git remote", "git stash list", "git reflog --all"):
        res = textkit_sandbox.run(cmd)
        assert res.stdout.strip() == "", (cmd, res.output)
    # and the tools the model has cannot reach the host checkout either
    tools = SandboxTools(textkit_sandbox, agent_config())
    assert base[:7] in tools.run("git log --all --oneline") and len(tools.run("git log --all --oneline").splitlines()) == 2


def test_a_looping_model_is_stopped_by_max_steps(textkit_sandbox):
    model = ScriptedChatModel(replies=[call("view", path="textkit/trunc.py")])
    traj = run_episode(model, textkit_sandbox, _task(), agent_config(max_steps=4))
    assert traj.exit_reason == "max_steps"
    assert model.calls == 4 and len(traj.steps) == 4


def test_token_budget_is_never_overshot(textkit_sandbox):
    model = ScriptedChatModel(replies=[call("view", path="textkit/trunc.py")])
    cfg = agent_config(max_steps=100, max_tokens=700)
    traj = run_episode(model, textkit_sandbox, _task(), cfg)
    assert traj.exit_reason == "max_tokens"
    assert traj.prompt_tokens + traj.completion_tokens <= cfg.max_tokens
    assert len(traj.steps) >= 2


@pytest.mark.parametrize("budget,reason", [(1000, ""), (943, "max_tokens")])
def test_the_token_forecast_counts_what_the_tools_added(budget, reason):
    from langchain_core.messages import ToolMessage

    from patchloop.agent.budget import limit_reason

    state = {"steps": 2, "prompt_tokens": 500, "completion_tokens": 40, "last_call_tokens": 300,
             "messages": [call("view", path="a"), ToolMessage("x" * 300, tool_call_id="1")]}
    # next call ~ 300 (the last one re-read) + 104 (the new observation, 3 chars a token + 4)
    assert limit_reason(state, agent_config(max_tokens=budget)) == reason


def test_an_empty_submit_is_refused_as_configured(textkit_sandbox):
    tools = SandboxTools(textkit_sandbox, agent_config(empty_submit_retries=2))
    for _ in range(2):
        with pytest.raises(ToolError, match="nothing to submit"):
            tools.submit()
        assert not tools.submitted
    assert tools.submit().startswith("submitted") and tools.submitted
    # with a change in the workspace, the first submit ends the episode
    tools = SandboxTools(textkit_sandbox, agent_config())
    tools.edit(path="textkit/trunc.py", old="    if len(text) < width:", new="    if len(text) <= width:")
    assert "M textkit/trunc.py" in tools.submit() and tools.submitted


def test_malformed_tool_calls_become_observations(textkit_sandbox):
    bad_json = AIMessage(content="", invalid_tool_calls=[
        {"name": "edit", "args": '{"path": "textkit/trunc.py", "old": ', "id": "bad1", "error": "JSON truncated"}])
    no_call = AIMessage(content="I think the bug is in trunc.py")
    model = ScriptedChatModel(replies=[bad_json, call("frobnicate", x=1), call("view", start="abc"), no_call,
                                       call("submit")])
    traj = run_episode(model, textkit_sandbox, _task(), agent_config(max_steps=10))
    # the scripted model repeats its last reply: the first submit, with nothing changed, is
    # refused once, the second ends the episode with an empty patch
    assert traj.exit_reason == "submitted" and len(traj.steps) == 6
    assert "nothing to submit: the repository is unchanged" in traj.steps[4].observations[0]
    assert traj.model_patch == ""
    obs = [s.observations[0] for s in traj.steps[:4]]
    assert "malformed call to edit: JSON truncated" in obs[0]
    assert "unknown tool 'frobnicate'" in obs[1]
    assert "bad arguments for view" in obs[2] and "path" in obs[2] and "start" in obs[2]
    assert "did not call a tool" in obs[3]
    assert traj.steps[0].tool_calls[0]["invalid"] is True


def test_ask_mode_waits_for_approval_and_runs_each_call_once(textkit_sandbox, tmp_path):
    model = ScriptedChatModel(replies=[
        call("run", command="echo ran >> counter.txt"),
        call("edit", path="textkit/trunc.py", old="    if len(text) < width:", new="    if len(text) <= width:"),
        call("submit"),
    ])
    asked = []

    def approve(req):
        asked.append(req)
        # nothing ran before the question: the first approval sees no counter file yet
        if req["tool"] == "run":
            assert textkit_sandbox.run("test -e counter.txt").exit_code != 0
            return True
        return "no, leave trunc.py alone"

    cfg = agent_config(max_steps=5, approve="ask")
    traj = run_episode(model, textkit_sandbox, _task(), cfg, checkpointer=open_checkpointer(tmp_path / "c.sqlite"),
                       thread_id="t1", approve=approve)
    assert [a["tool"] for a in asked] == ["run", "edit"]
    assert textkit_sandbox.read_file("counter.txt") == "ran\n"
    assert "leave trunc.py alone" in traj.steps[1].observations[0]
    assert "<= width" not in textkit_sandbox.read_file("textkit/trunc.py")
    assert traj.exit_reason == "submitted"


def test_a_conversation_that_no_longer_fits_ends_cleanly(textkit_sandbox):
    # distinct commands: a step that repeats an earlier one is left out of the prompt and would never fill it
    model = ScriptedChatModel(replies=[call("run", command=f"seq {i} {i + 3000}") for i in range(40)])
    cfg = agent_config(max_steps=40, context_tokens=6000, completion_tokens=256, observation_chars=3000)
    traj = run_episode(model, textkit_sandbox, _task(), cfg)
    # old outputs are shortened first, so several steps fit before the window is full
    assert traj.exit_reason == "context_full" and 2 < len(traj.steps) < 40, len(traj.steps)


def test_cost_budget_stops_before_the_call_that_would_exceed_it(textkit_sandbox):
    model = ScriptedChatModel(replies=[call("view", path="textkit/trunc.py")], cost=0.3)
    traj = run_episode(model, textkit_sandbox, _task(), agent_config(max_steps=50, max_cost=1.0))
    assert traj.exit_reason == "max_cost" and model.calls == 3  # 0.9 spent; a 4th call would reach 1.2
    assert traj.extra["cost"] == pytest.approx(0.9)


def test_wall_time_budget_stops_a_slow_loop(textkit_sandbox):
    model = ScriptedChatModel(replies=[call("run", command="sleep 0.4")])
    traj = run_episode(model, textkit_sandbox, _task(), agent_config(max_steps=50, max_wall_s=1.0))
    assert traj.exit_reason == "max_wall_s" and 2 <= len(traj.steps) <= 3
    assert traj.extra["node_s"] >= 1.0


def test_docker_workspace_fixes_and_resolves(docker_client):
    from patchloop.agent.workspace import open_workspace
    from patchloop.evals.swe import evaluate_instance

    with open_workspace(_task(), "docker") as (sb, python):
        assert type(sb).__name__ == "DockerSandbox" and python == "python"
        traj = run_episode(ScriptedChatModel(replies=FIX_SCRIPT), sb, _task(), agent_config(python=python))
    assert traj.exit_reason == "submitted" and "passed" in traj.steps[4].observations[0]
    assert evaluate_instance(_task(), traj.model_patch, backend="docker", timeout=120).verdict == "resolved"


def test_a_binary_file_is_described_not_dumped(textkit_sandbox):
    textkit_sandbox.write_file("blob.bin", bytes(range(256)) * 4)
    model = ScriptedChatModel(replies=[call("view", path="blob.bin"), call("submit")])
    traj = run_episode(model, textkit_sandbox, _task(), agent_config(max_steps=5))
    assert traj.exit_reason == "submitted"
    assert traj.steps[0].observations[0].startswith("blob.bin: a binary file")
