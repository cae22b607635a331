"""A scripted chat model for graph-logic tests: it replays a fixed list of replies.

The reply is chosen by how many model turns the conversation already holds, not by a
counter, so a resumed run (new process, same checkpoint) continues the script where the
killed one stopped. ``calls`` counts the calls this instance actually served.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from patchloop.agent.progress import LEFT_OUT


def call(name: str, **args: Any) -> AIMessage:
    """One well-formed tool call."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"c_{name}_{abs(hash(str(args))) % 10**8}"}])


class ScriptedChatModel(BaseChatModel):
    replies: list[AIMessage]
    calls: int = 0
    on_call: Any = None  # optional hook(turn) for tests that need to observe a step
    cost: float = 0.0  # reported per call in response_metadata, as priced backends do

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        # replies sent, plus the repeated ones the agent left out (progress.without_repeats)
        turn = sum(isinstance(m, AIMessage) for m in messages) + sum(
            len(m.additional_kwargs.get(LEFT_OUT, [])) for m in messages if isinstance(m, HumanMessage))
        self.calls += 1
        if self.on_call is not None:
            self.on_call(turn)
        reply = self.replies[min(turn, len(self.replies) - 1)].model_copy(deep=True)
        if self.cost:
            reply.response_metadata = {**reply.response_metadata, "cost": self.cost}
        reply.usage_metadata = {"input_tokens": 100 + 10 * turn, "output_tokens": 20, "total_tokens": 120 + 10 * turn}
        return ChatResult(generations=[ChatGeneration(message=reply)])
