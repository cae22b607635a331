"""Run the fix script in a subprocess that announces step TURN and then blocks, so a test
can kill it at a known point. Usage: agent_killable.py REPO_DEST CHECKPOINT THREAD TURN"""

from __future__ import annotations

import sys
from pathlib import Path

from patchloop.agent.runner import open_checkpointer, run_episode
from tests.agent.agent_scripted import ScriptedChatModel
from tests.agent.conftest import agent_config, open_task_sandbox
from tests.agent.test_agent_graph import FIX_SCRIPT, _task


def main() -> None:
    repo, ckpt, thread, stop = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def hook(turn: int) -> None:
        if turn == stop:
            print(f"AT {turn}", flush=True)
            sys.stdin.readline()  # blocks until killed (the test never writes)

    sb = open_task_sandbox(_task(), Path(repo))
    run_episode(ScriptedChatModel(replies=FIX_SCRIPT, on_call=hook), sb, _task(), agent_config(max_steps=10),
                checkpointer=open_checkpointer(ckpt), thread_id=thread)


if __name__ == "__main__":
    main()
