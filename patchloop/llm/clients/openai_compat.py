"""``OpenAIChatModel``: a small LangChain chat model over any OpenAI-compatible endpoint.

Why not ``langchain_openai.ChatOpenAI``: it is one more dependency for what is ~150 lines
here, and this class adds what patchloop relies on: every failure is a one-line
:class:`LLMError` naming the endpoint, tool calls that a server left as ``<tool_call>``
text (llama.cpp, Ollama without a tool parser) are still parsed, and the token ids and
logprobs that ``patchloop serve``/vLLM can return reach ``response_metadata``
(``prompt_token_ids``, ``token_ids``, ``logprobs``; absent where a server gives none). A
server that rejects the ``return_token_ids`` field is asked again without it, once per
model object, so RL rollouts can always ask.

``stream()`` yields content token by token and tool calls as they complete, including
calls a server streams as text.

Retries (429, 408/409, 5xx, connection errors) with exponential backoff and jitter, and
``Retry-After`` handling, are the ``openai`` client's own; we set its budget and timeout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from patchloop.llm.errors import LLMError
from patchloop.llm.toolcalls.parse import OPEN, held_back, new_call_id, parse_tool_calls


class OpenAIChatModel(BaseChatModel):
    """Chat completions over HTTP with tools, timeouts and retries."""

    model_name: str
    """Model name sent to the endpoint."""
    base_url: str | None = None
    """Endpoint root, e.g. ``http://127.0.0.1:8000/v1``; None means api.openai.com."""
    api_key: str | None = None
    """API key; falls back to OPENAI_API_KEY, then a dummy (local servers ignore it)."""
    timeout: float = 600.0
    """Seconds for each HTTP attempt: the openai client's own default. A local CPU server
    answering several agents at once takes minutes for one long reply (a 512-token reply
    of the 1.5B model at ~6 tok/s is 85 s before any wait), and a retry after a timeout
    sends the whole prompt again, adding to the load that caused it."""
    max_retries: int = 3
    """Retries on 429/5xx/connection errors, with exponential backoff."""
    temperature: float | None = None
    """Sampling temperature (server default when None)."""
    top_p: float | None = None
    """Nucleus sampling mass (server default when None)."""
    max_tokens: int | None = None
    """Upper bound on generated tokens."""
    seed: int | None = None
    """Sampling seed, for servers that honour it."""
    logprobs: bool = False
    """Ask for the sampled tokens' logprobs (standard OpenAI field)."""
    return_token_ids: bool = False
    """Ask for the sampled token ids: an extension of vLLM and ``patchloop serve``; hosted APIs reject it."""

    _client: Any = PrivateAttr(default=None)
    _ids_refused: bool = PrivateAttr(default=False)  # the server rejected return_token_ids

    @property
    def _llm_type(self) -> str:
        return "patchloop-openai"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "base_url": self.base_url}

    @property
    def client(self):
        if self._client is None:
            import openai

            key = self.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
            self._client = openai.OpenAI(
                base_url=self.base_url, api_key=key, timeout=self.timeout, max_retries=self.max_retries
            )
        return self._client

    @property
    def _where(self) -> str:
        """The endpoint and model, as every error message names them."""
        return f"{self.base_url or 'https://api.openai.com/v1'} (model {self.model_name})"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | BaseTool],
        *,
        tool_choice: str | dict | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required", "any"):
                tool_choice = {"type": "function", "function": {"name": tool_choice}}
            kwargs["tool_choice"] = "required" if tool_choice == "any" else tool_choice
        return super().bind(tools=formatted, **kwargs)

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict) -> dict:
        body: dict[str, Any] = {"model": self.model_name, "messages": convert_to_openai_messages(messages)}
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = kwargs.get(name, getattr(self, name))
            if value is not None:
                body[name] = value
        if stop:
            body["stop"] = stop
        if kwargs.get("tools"):
            body["tools"] = kwargs["tools"]
            if kwargs.get("tool_choice") is not None:
                body["tool_choice"] = kwargs["tool_choice"]
        if self.logprobs:
            body["logprobs"] = True
        if self.return_token_ids and not self._ids_refused:
            body["extra_body"] = {"return_token_ids": True}
        return body

    def _call(self, body: dict) -> Any:
        import openai

        try:
            return self.client.chat.completions.create(**body)
        except openai.APITimeoutError:
            raise LLMError(f"{self._where}: no answer within {self.timeout:g}s after {self.max_retries} retries") from None
        except openai.APIConnectionError as e:
            cause = e.__cause__ or e
            raise LLMError(f"cannot reach {self._where}: {cause} (after {self.max_retries} retries)") from None
        except openai.APIStatusError as e:
            if e.status_code in (400, 422) and "extra_body" in body and "return_token_ids" in _error_text(e):
                self._ids_refused = True  # a server without vLLM's extension: ask without it
                return self._call({k: v for k, v in body.items() if k != "extra_body"})
            raise LLMError(f"{self._where} answered HTTP {e.status_code}: {_error_text(e)}") from None

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        resp = self._call(self._request(messages, stop, kwargs))
        if not resp.choices:
            raise LLMError(f"{self.base_url} (model {self.model_name}) returned no choices")
        choice = resp.choices[0]
        return ChatResult(generations=[ChatGeneration(message=self._to_message(resp, choice, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Content as it arrives; tool calls as the server streams them, or, from servers that
        leave calls as ``<tool_call>`` text, parsed at the end (text that may open such a tag
        is held back, so no part of a call leaks out as content)."""
        import httpx
        import openai

        body = {**self._request(messages, stop, kwargs), "stream": True, "stream_options": {"include_usage": True}}
        tools = kwargs.get("tools") or None
        names = {t["function"]["name"] for t in tools} if tools else None
        text, sent, finish, model, usage = "", 0, None, None, None

        def piece(**fields) -> ChatGenerationChunk:
            chunk = ChatGenerationChunk(message=AIMessageChunk(**{"content": "", **fields}))
            if run_manager and fields.get("content"):
                run_manager.on_llm_new_token(fields["content"], chunk=chunk)
            return chunk

        try:
            for part in self._call(body):
                model = getattr(part, "model", None) or model
                if getattr(part, "usage", None) is not None:
                    usage = usage_of(part.usage)
                if not part.choices:
                    continue
                choice = part.choices[0]
                finish = choice.finish_reason or finish
                delta = choice.delta
                for tc in getattr(delta, "tool_calls", None) or []:
                    fn = getattr(tc, "function", None)
                    yield piece(tool_call_chunks=[tool_call_chunk(
                        name=getattr(fn, "name", None), args=getattr(fn, "arguments", None), id=tc.id, index=tc.index)])
                if getattr(delta, "content", None):
                    text += delta.content
                    cut = text.find(OPEN, sent) if names is not None else -1
                    safe = cut if cut >= 0 else len(text) - (held_back(text) if names is not None else 0)
                    if safe > sent:
                        yield piece(content=text[sent:safe])
                        sent = safe
        except (openai.APIError, httpx.HTTPError) as e:
            raise LLMError(f"{self._where}: stream broke off: {' '.join(str(e).split())[:300]}") from None
        rest = text[sent:]
        if rest:
            parsed = parse_tool_calls(rest, names) if names is not None else None
            if parsed is None or not parsed.tool_calls:
                yield piece(content=rest)
            else:
                leftover = "\n".join(x for x in [parsed.content, *parsed.invalid_text] if x)
                if leftover:
                    yield piece(content=leftover)
                for i, c in enumerate(parsed.tool_calls):
                    yield piece(tool_call_chunks=[tool_call_chunk(name=c["name"], args=json.dumps(c["args"]),
                                                                  id=c["id"], index=10_000 + i)])
        yield piece(usage_metadata=usage, response_metadata={"finish_reason": finish, "model_name": model})

    def _to_message(self, resp: Any, choice: Any, kwargs: dict) -> AIMessage:
        msg = choice.message
        tools = kwargs.get("tools") or None
        names = {t["function"]["name"] for t in tools} if tools else None
        parsed = parse_tool_calls(msg.content or "", names)  # servers without a tool parser
        calls, bad = list(parsed.tool_calls), list(parsed.invalid_tool_calls)
        for tc in msg.tool_calls or []:
            fn = getattr(tc, "function", None)
            name, raw = getattr(fn, "name", None), getattr(fn, "arguments", None) or "{}"
            try:
                args = json.loads(raw)
                problem = None if isinstance(args, dict) else f"got {type(args).__name__}"
            except (ValueError, RecursionError) as e:
                problem = str(e)
            if problem is None:
                calls.append(tool_call(name=name, args=args, id=tc.id or new_call_id()))
            else:
                bad.append(invalid_tool_call(name=name, args=raw[:300], id=tc.id or new_call_id(),
                                             error=f"tool call {name!r}: arguments are not a JSON object ({problem})"))
        meta: dict[str, Any] = {"model_name": resp.model, "finish_reason": choice.finish_reason}
        lp = getattr(choice, "logprobs", None)
        if lp is not None and getattr(lp, "content", None):
            meta["logprobs"] = [t.logprob for t in lp.content]
        extra = getattr(choice, "model_extra", None) or {}
        if extra.get("token_ids") is not None:
            meta["token_ids"] = extra["token_ids"]
        prompt_ids = (getattr(resp, "model_extra", None) or {}).get("prompt_token_ids")
        if prompt_ids is not None:  # vLLM and `serve` put it on the response, not the choice
            meta["prompt_token_ids"] = prompt_ids
        usage = usage_of(resp.usage) if resp.usage is not None else None
        return AIMessage(content=parsed.content, tool_calls=calls, invalid_tool_calls=bad,
                         usage_metadata=usage, response_metadata=meta, id=resp.id)


def usage_of(usage: Any) -> dict[str, Any]:
    """LangChain's usage fields from an OpenAI ``usage`` object, with the prompt tokens the server
    answered from its cache (``prompt_tokens_details.cached_tokens``, sent by `serve`, vLLM and
    OpenAI) as ``input_token_details.cache_read``: what a teacher's prefix reuse saved."""
    out = {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
           "total_tokens": usage.total_tokens}
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if isinstance(cached, int):
        out["input_token_details"] = {"cache_read": cached}
    return out


def _error_text(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        if msg:
            return " ".join(str(msg).split())[:300]
    return " ".join(str(getattr(e, "message", e)).split())[:300]
