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


def test_a_sed_pattern_with_brackets_that_matched_nothing_is_explained_with_one_that_does(
        textkit_sandbox, textkit_task):
    """Seen with the 1.5B model: `text[: width` is a character set to sed, so its edit matched
    nothing on every step. The note gives the pattern escaped, and that pattern does match."""
    import re

    from patchloop.agent.progress import sed_hint

    wrong = "sed -i 's/return text[: width - len(placeholder)] + placeholder/return text/' textkit/trunc.py"
    model = ScriptedChatModel(replies=[call("run", command=wrong), call("submit"), call("submit")])
    traj = run_episode(model, textkit_sandbox, textkit_task, agent_config(max_steps=3, submit_test_reviews=0))
    note = traj.steps[0].observations[-1]
    assert "changed no file" in note and "`[...]` means one of those characters" in note
    escaped = re.search(r"write the pattern as `(.*?)`, or edit", note).group(1)
    assert escaped == r"return text\[: width - len(placeholder)\] + placeholder"
    textkit_sandbox.run(f"sed -i 's/{escaped}/return text/' textkit/trunc.py", timeout=30)
    assert "return text[: width" not in textkit_sandbox.read_file("textkit/trunc.py")  # the hint's pattern matches
    assert sed_hint("sed -i 's/a < b/a <= b/' x.py") == ""  # nothing special, nothing said
    assert sed_hint(r"sed -i 's|x\[0\]|y|' x.py") == ""  # already escaped
