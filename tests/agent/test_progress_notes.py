"""A step that made no progress the model can see is told to it: a reply repeated word for
word, and an in-place edit command that changed no file."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from patchloop.agent.progress import changed_nothing, repeated_step
from patchloop.agent.runner import run_episode
from tests.agent.agent_scripted import ScriptedChatModel, call
from tests.agent.conftest import agent_config
from tests.agent.test_retry_sampling import TemperatureRecorder


def run(command: str) -> dict:
    return {"name": "run", "args": {"command": command}}


@pytest.mark.parametrize("command, edits", [
    ("sed -i 's/a/b/' x.py", True),
    ("sed -E -i.bak 's/a/b/' x.py", True),
    ("perl -pi -e 's/a/b/' x.py", True),
    ("echo x > x.py", True),
    ("cat >> notes.txt <<'EOF'\nx\nEOF", True),
    ("printf x | tee x.py", True),
    ("python -m pytest -q 2>&1 > /dev/null", False),
    ("grep -n 'def' x.py 2>&1", False),
    ("sed -n '1,20p' x.py", False),
])
def test_which_commands_mean_to_edit(command, edits):
    assert changed_nothing([run(command)], "same diff", "same diff") is edits
    assert changed_nothing([run(command)], "", "a new diff") is False  # it did change something


def test_a_repeated_reply_is_found_by_text_and_calls():
    first = AIMessage(content="Fix it.", tool_calls=[{"name": "run", "args": {"command": "ls"}, "id": "a"}])
    same = AIMessage(content="Fix it. ", tool_calls=[{"name": "run", "args": {"command": "ls"}, "id": "b"}])
    other = AIMessage(content="Fix it.", tool_calls=[{"name": "run", "args": {"command": "pwd"}, "id": "c"}])
    history = [AIMessage(content="look"), first]
    assert repeated_step(history, same) == 2 and repeated_step(history, other) is None


def test_an_episode_tells_the_model_and_samples_warmer_after_a_repeat(textkit_sandbox, textkit_task):
    no_op = "sed -i 's/if len(text) =< width:/x/' textkit/trunc.py"  # matches nothing
    look = call("view", path="textkit/trunc.py")
    model = TemperatureRecorder(replies=[call("run", command=no_op), look, look, call("submit"), call("submit")],
                                seen=[])
    traj = run_episode(model, textkit_sandbox, textkit_task, agent_config(max_steps=6))
    obs = [s.observations[-1] for s in traj.steps]
    assert "the command changed no file" in obs[0] and "same as your reply" not in obs[0]
    assert "changed no file" not in obs[1] and "same as your reply" not in obs[1]
    assert "the same as your reply at step 2, word for word" in obs[2]
    assert model.seen[:4] == [None, None, None, 0.7]  # the repeat at step 3 makes step 4 warmer


def test_a_real_edit_by_command_gets_no_note(textkit_sandbox, textkit_task):
    fix = "sed -i 's/if len(text) < width:/if len(text) <= width:/' textkit/trunc.py"
    model = ScriptedChatModel(replies=[call("run", command=fix), call("submit")])
    traj = run_episode(model, textkit_sandbox, textkit_task, agent_config(max_steps=4, submit_test_reviews=0))
    assert traj.exit_reason == "submitted" and "note:" not in traj.steps[0].observations[-1]
