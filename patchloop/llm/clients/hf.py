"""``HFChatModel``: a LangChain chat model over a local checkpoint (+ LoRA adapter).

The agent only speaks LangChain messages, so a checkpoint patchloop trained plugs into the
same graph as a hosted API. Tool calls come back parsed from ``<tool_call>`` blocks; bad
ones arrive as ``invalid_tool_calls`` (the agent shows them to the model), never as an
exception. The prompt ids the model was fed, the sampled token ids and their logprobs ride
along in ``response_metadata`` so trajectories can be trained on exactly what was sampled;
a conversation that only grew since the last call is extended by token ids, never
re-tokenized (:mod:`patchloop.llm.serving.continuation`; ``continued`` in the metadata says so).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr

from patchloop.llm.serving.continuation import Continuations
from patchloop.llm.toolcalls.parse import parse_tool_calls


def to_template_messages(messages: Sequence[BaseMessage] | list[dict]) -> list[dict]:
    """OpenAI-format dicts with plain-string content, which chat templates expect."""
    out = convert_to_openai_messages(list(messages))
    for m in out:
        content = m.get("content")
        if isinstance(content, list):  # content blocks: keep the text, drop the rest
            m["content"] = "".join(
                b.get("text", "") if isinstance(b, dict) else str(b) for b in content
            )
        elif content is None:
            m["content"] = ""
    return out


def tool_names_of(tools: list[dict] | None) -> set[str] | None:
    if not tools:
        return None
    return {t.get("function", {}).get("name", "") for t in tools if isinstance(t, dict)}


def token_feed(engine, run_manager) -> dict[str, Any]:
    """``on_token`` for ``engine.generate`` that tells the run's callback handlers of each
    decoded token (a live count at the terminal), where there are handlers and the engine
    can report tokens; else nothing."""
    import inspect

    if run_manager is None or not run_manager.handlers:
        return {}
    if "on_token" not in inspect.signature(engine.generate).parameters:
        return {}
    return {"on_token": lambda _id: run_manager.on_llm_new_token("")}


class HFChatModel(BaseChatModel):
    """Chat with a local ``transformers`` causal LM, optionally with a PEFT LoRA adapter."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    """Checkpoint directory (or hub id where a hub is reachable)."""
    adapter_path: str | None = None
    """A PEFT LoRA adapter directory loaded on top of the base checkpoint."""
    temperature: float = 0.7
    """Sampling temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    max_new_tokens: int = 512
    """Upper bound on generated tokens (also capped by the model's context)."""
    seed: int | None = None
    """Seed torch before each call for reproducible samples."""
    return_token_ids: bool = True
    """Put ``prompt_token_ids``, sampled ``token_ids`` and their ``logprobs`` into ``response_metadata``."""
    continue_tokens: bool = True
    """Build the prompt of a conversation that only grew since the last call from that call's
    token ids plus the new messages' ids, instead of re-rendering (and re-tokenizing) it all."""

    _engine: Any = PrivateAttr(default=None)
    _continuations: Continuations = PrivateAttr(default_factory=Continuations)

    @classmethod
    def over_engine(cls, engine, **kwargs: Any) -> HFChatModel:
        """A chat model over an engine already loaded (e.g. a trainer's policy, see
        ``LocalModel.from_loaded``) instead of one loaded from ``model_path``."""
        chat = cls(model_path=engine.name, **kwargs)
        chat._engine = engine
        return chat

    @property
    def _llm_type(self) -> str:
        return "patchloop-hf"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "adapter_path": self.adapter_path}

    @property
    def engine(self):
        """The loaded model, on first use (loading is slow and needs torch)."""
        if self._engine is None:
            from patchloop.llm.serving.local import get_local_model

            self._engine = get_local_model(self.model_path, self.adapter_path)
        return self._engine

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | BaseTool],
        *,
        tool_choice: str | dict | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Attach tools (rendered into the prompt by the chat template).

        A local model cannot be forced to call a tool, so ``tool_choice`` only has one
        effect: ``"none"`` leaves the tools out of the prompt.
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice == "none":
            formatted = []
        return super().bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = kwargs.get("tools") or None
        engine = self.engine
        template = to_template_messages(messages)
        if self.continue_tokens:
            prompt, continued = self._continuations.prompt(engine, messages, template, tools)
        else:
            prompt, continued = engine.render(template, tools), False
        gen = engine.generate(
            prompt,
            max_new_tokens=kwargs.get("max_new_tokens", kwargs.get("max_tokens", self.max_new_tokens)),
            temperature=kwargs.get("temperature", self.temperature),
            top_p=kwargs.get("top_p", self.top_p),
            stop=stop,
            seed=kwargs.get("seed", self.seed),
            **token_feed(engine, run_manager),
        )
        reply_id = f"hf-{uuid.uuid4().hex}"
        if self.continue_tokens:
            self._continuations.remember(reply_id, template, tools, prompt, gen.token_ids)
        parsed = parse_tool_calls(gen.text, tool_names_of(tools))
        meta: dict[str, Any] = {"model_name": engine.name, "finish_reason": gen.finish_reason}
        if self.return_token_ids:
            meta.update(prompt_token_ids=prompt, token_ids=gen.token_ids, logprobs=gen.logprobs, continued=continued)
        usage = {
            "input_tokens": gen.prompt_tokens,
            "output_tokens": len(gen.token_ids),
            "total_tokens": gen.prompt_tokens + len(gen.token_ids),
        }
        if (gen.extra or {}).get("cached_prompt_tokens") is not None:
            usage["input_token_details"] = {"cache_read": int(gen.extra["cached_prompt_tokens"])}
        msg = AIMessage(
            content=parsed.content,
            tool_calls=parsed.tool_calls,
            invalid_tool_calls=parsed.invalid_tool_calls,
            usage_metadata=usage,
            response_metadata=meta,
            id=reply_id,
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])
