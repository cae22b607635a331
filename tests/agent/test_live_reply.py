"""A reply being written is visibly alive: the spinner shows a live token count and rate
instead of freezing until the whole reply is in (279 s of a still screen with a slow model)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from patchloop.agent.fix import run_fix
from patchloop.agent.live_reply import LiveReply
from tests.agent.agent_scripted import ScriptedChatModel
from tests.agent.conftest import agent_config
from tests.agent.test_agent_fix import user_repo  # noqa: F401 -- fixture
from tests.agent.test_agent_graph import FIX_SCRIPT, _task


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_count_rate_and_time_of_a_reply_are_shown_as_tokens_arrive():
    shown, clock = [], Clock()
    live = LiveReply(shown.append, every=0.5, clock=clock)
    live.on_chat_model_start({}, [])
    clock.now = 2.0
    live.on_llm_new_token("a")
    for t in (2.2, 2.4, 3.0, 4.0):
        clock.now = t
        live.on_llm_new_token("b")
    assert shown == ["the model is writing: 1 token, 2s",
                     "the model is writing: 4 tokens, 3.0 tokens/s, 3s",
                     "the model is writing: 5 tokens, 2.0 tokens/s, 4s"]
    live.on_chat_model_start({}, [])  # the next reply counts from zero
    clock.now = 5.0
    live.on_llm_new_token("c")
    assert shown[-1] == "the model is writing: 1 token, 1s"


class StreamingScripted(ScriptedChatModel):
    """Replays the script, reporting each reply's tokens as it 'decodes' them, as a local
    model does through its callback manager."""

    def _generate(self, messages, stop: Any = None, run_manager: Any = None, **kw: Any):
        for _ in range(25):
            if run_manager is not None:
                run_manager.on_llm_new_token("x")
        return super()._generate(messages, stop, run_manager, **kw)


def test_fix_shows_the_live_token_count_while_the_model_writes(user_repo, monkeypatch):  # noqa: F811
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))  # do not apply
    out = io.StringIO()
    code = run_fix(repo=str(user_repo), issue=_task().problem_statement, model_spec="scripted", base_url=None,
                   cfg=agent_config(approve="auto"), backend="local", apply=False, resume=None,
                   model=StreamingScripted(replies=FIX_SCRIPT),
                   console=Console(file=out, width=150, force_terminal=True))
    assert code == 0
    assert "the model is writing: 1 token" in out.getvalue()
