"""An OpenAI-compatible HTTP server over a local checkpoint (``patchloop serve``).

Enough of the Chat Completions API for the agent, the ``openai`` client and editors:
``/v1/models`` and ``/v1/chat/completions`` with tools, ``tool_choice`` (forced by prefilling), sampling
settings, ``stream`` (SSE, tool-call deltas, a usage chunk on request) and ``usage``; with vLLM's
``return_token_ids`` a non-streamed reply also carries the prompt ids the model was fed and
the sampled ids (and ``logprobs: true`` their log-probabilities), for RL on what was sampled.

Concurrency: one worker thread owns the model (:class:`patchloop.llm.serving.batcher.Batcher`).
Requests that wait together and share sampling settings are decoded in one batch; a request
alone takes the single-sequence path with KV-prefix reuse. None are dropped and HTTP handling
stays responsive meanwhile. For serving large models to many users on GPUs, use vLLM
(``vllm serve``), which speaks the same API, and point patchloop at it with
``openai:NAME --base-url``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from patchloop.llm.errors import LLMError
from patchloop.llm.serving.batcher import Batcher
from patchloop.llm.toolcalls.parse import OPEN, ParsedOutput, held_back, parse_tool_calls


class ChatRequest(BaseModel):
    """The request fields we honour; unknown ones are accepted and ignored, as OpenAI does."""

    model_config = ConfigDict(extra="allow")
    messages: list[dict[str, Any]]
    model: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    logprobs: bool = False
    n: int = 1
    return_token_ids: bool = False  # vLLM's extension: token ids of the prompt and the completion


def forced_call_prefix(tool_choice: Any, tools: list[dict] | None) -> tuple[str, str | None]:
    """``(text the reply is made to start with, error)`` for OpenAI's ``tool_choice``.

    ``auto``/``none``/absent force nothing. ``required`` starts the reply inside a call, so the
    model picks only the tool and arguments; a named function also fixes the name. This is
    prefilling, not constrained decoding: the model can still write broken arguments, which
    then come back as content, as any malformed call does."""
    if tool_choice in (None, "auto", "none"):
        return "", None
    names = [(t.get("function") or {}).get("name") for t in tools or [] if isinstance(t, dict)]
    if not names:
        return "", "tool_choice requires tools"
    if tool_choice == "required":
        return OPEN + '\n{"name": "', None
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        name = (tool_choice.get("function") or {}).get("name")
        if name not in names:
            return "", f"tool_choice names function {name!r}, which is not among the tools ({', '.join(map(str, names))})"
        return OPEN + f'\n{{"name": {json.dumps(name)}, "arguments": ', None
    return "", f"unsupported tool_choice {json.dumps(tool_choice)[:200]} (auto, none, required, or a named function)"


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


async def _until_disconnected(request: Request, cancel: threading.Event) -> None:
    """Set ``cancel`` when the client hangs up (the body is read, so the next ASGI message
    is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    cancel.set()


def _plain_messages(messages: list[dict]) -> list[dict]:
    """Chat templates want string content; OpenAI allows lists of parts."""
    out = []
    for m in messages:
        m = dict(m)
        c = m.get("content")
        if isinstance(c, list):
            m["content"] = "".join(p.get("text", "") for p in c if isinstance(p, dict))
        elif c is None:
            m["content"] = ""
        out.append(m)
    return out


class ChatServer:
    """Routes + the single model worker. ``engine`` is a :class:`patchloop.llm.serving.local.LocalModel`."""

    def __init__(self, engine, model_id: str, default_max_tokens: int = 512, max_batch: int = 8):
        self.engine, self.model_id, self.default_max_tokens = engine, model_id, default_max_tokens
        self.batcher = Batcher(engine, max_batch=max_batch)
        self.shutdown = threading.Event()
        self._inflight: set[threading.Event] = set()  # the cancel events of generations in flight
        self.app = FastAPI(title="patchloop serve")
        self.app.get("/v1/models")(self.models)
        self.app.post("/v1/chat/completions")(self.chat)

    def stop_generating(self) -> None:
        """End every running generation at its next token (a stop request)."""
        self.shutdown.set()
        for cancel in list(self._inflight):
            cancel.set()

    def close(self) -> None:
        self.stop_generating()
        self.batcher.close()

    async def models(self) -> dict:
        # max_model_len is vLLM's name for the context; clients fit their prompts to it.
        return {"object": "list", "data": [{"id": self.model_id, "object": "model", "created": 0,
                                            "owned_by": "patchloop", "max_model_len": int(self.engine.context)}]}

    def _settings(self, req: ChatRequest) -> dict:
        stop = [req.stop] if isinstance(req.stop, str) else req.stop
        return {
            "max_new_tokens": req.max_completion_tokens or req.max_tokens or self.default_max_tokens,
            "temperature": 0.7 if req.temperature is None else req.temperature,
            "top_p": 1.0 if req.top_p is None else req.top_p,
            "stop": stop or None,
            "seed": req.seed,
        }

    async def chat(self, request: Request):
        try:
            req = ChatRequest.model_validate(await request.json())
        except (ValueError, TypeError) as e:  # bad JSON or wrong field types (ValidationError is a ValueError)
            return _error(400, f"bad request: {' '.join(str(e).split())[:500]}")
        if req.n != 1:
            return _error(400, "only n=1 is supported")
        tools = None if req.tool_choice == "none" else req.tools
        forced, why = forced_call_prefix(req.tool_choice, tools)
        if why:
            return _error(400, why)
        try:
            prompt = self.engine.render(_plain_messages(req.messages), tools)
        except LLMError as e:
            return _error(400, str(e))
        if forced:  # the reply starts inside a call: the model can only fill it in
            prompt = prompt + self.engine.tokenizer.encode(forced, add_special_tokens=False)
        if len(prompt) >= self.engine.context:
            return _error(400, f"prompt is {len(prompt)} tokens but this model's context is {self.engine.context}")
        names = {t.get("function", {}).get("name") for t in tools} if tools else None
        rid, created = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time())
        if req.stream:
            return StreamingResponse(self._stream(req, prompt, names, rid, created, forced),
                                     media_type="text/event-stream")
        gen = await self._generate_for(request, prompt, self._settings(req))
        if self.shutdown.is_set():  # cut short by a stop request: not an answer (clients retry a 503)
            return _error(503, "the server is shutting down", "server_error")
        parsed = self._parse(forced + gen.text, names)
        message: dict[str, Any] = {"role": "assistant", "content": self._content(parsed) or None}
        if parsed.tool_calls:
            message["tool_calls"] = [self._call(c) for c in parsed.tool_calls]
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "finish_reason": "tool_calls" if parsed.tool_calls else gen.finish_reason,
            "logprobs": self._logprobs(gen) if req.logprobs else None,
        }
        body = {"id": rid, "object": "chat.completion", "created": created, "model": self.model_id,
                "choices": [choice], "usage": self._usage(gen)}
        if req.return_token_ids:  # where vLLM puts them: prompt ids on the response, sampled ids per choice
            choice["token_ids"] = gen.token_ids
            body["prompt_token_ids"] = prompt
        return body

    def _cancel_event(self) -> threading.Event:
        """A generation's own cancel event, which a stop request sets (set already during one);
        its owner discards it from ``_inflight`` when the generation ends."""
        cancel = threading.Event()
        self._inflight.add(cancel)
        if self.shutdown.is_set():
            cancel.set()
        return cancel

    async def _generate_for(self, request: Request, prompt: list[int], settings: dict):
        """One generation that stops when its client goes away (a client that timed out and
        retries would otherwise queue the same work twice) or the server stops."""
        cancel = self._cancel_event()
        watch = asyncio.create_task(_until_disconnected(request, cancel))
        try:
            return await asyncio.wrap_future(self.batcher.submit(prompt, settings, cancel=cancel))
        finally:
            watch.cancel()
            self._inflight.discard(cancel)

    @staticmethod
    def _parse(text: str, names: set[str] | None):
        # Without tools in the prompt (none sent, or tool_choice "none") nothing is a tool
        # call, as in the OpenAI API: tag-like text stays plain content.
        return parse_tool_calls(text, names) if names is not None else ParsedOutput(text.strip())

    @staticmethod
    def _content(parsed) -> str:
        # Malformed calls stay in the content as text, so a client-side parser (ours) can
        # show the model its mistake; valid calls move to ``tool_calls``.
        return "\n".join(x for x in [parsed.content, *parsed.invalid_text] if x)

    @staticmethod
    def _call(c: dict) -> dict:
        return {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["args"])}}

    @staticmethod
    def _usage(gen) -> dict:
        n = len(gen.token_ids)
        usage = {"prompt_tokens": gen.prompt_tokens, "completion_tokens": n, "total_tokens": gen.prompt_tokens + n}
        cached = (gen.extra or {}).get("cached_prompt_tokens")
        if cached:  # OpenAI's field for prompt tokens served from a cache
            usage["prompt_tokens_details"] = {"cached_tokens": int(cached)}
        return usage

    def _logprobs(self, gen) -> dict:
        tok = self.engine.tokenizer
        content = []
        for t, lp in zip(gen.token_ids, gen.logprobs):
            s = tok.decode([t])
            content.append({"token": s, "logprob": lp, "bytes": list(s.encode()), "top_logprobs": []})
        return {"content": content}

    async def _stream(self, req: ChatRequest, prompt: list[int], names, rid: str, created: int, forced: str = ""):
        """SSE: content deltas as tokens arrive, held back once a ``<tool_call>`` may begin
        (from the first token when ``tool_choice`` forced a call)."""
        loop = asyncio.get_running_loop()
        tokens: asyncio.Queue = asyncio.Queue()

        def on_token(t: int) -> None:
            loop.call_soon_threadsafe(tokens.put_nowait, t)

        def finished(_) -> None:
            loop.call_soon_threadsafe(tokens.put_nowait, None)

        def chunk(delta: dict | None, finish: str | None = None, **extra) -> str:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
            body = {"id": rid, "object": "chat.completion.chunk", "created": created,
                    "model": self.model_id, "choices": choices, **extra}
            return f"data: {json.dumps(body)}\n\n"

        cancel = self._cancel_event()
        job = self.batcher.submit(prompt, self._settings(req), on_token=on_token, cancel=cancel)
        job.add_done_callback(finished)
        future = asyncio.wrap_future(job)
        ids: list[int] = []
        sent, in_call = "", False
        try:
            yield chunk({"role": "assistant", "content": ""})
            while (t := await tokens.get()) is not None:
                ids.append(t)
                if in_call:
                    continue
                text = forced + self.engine.tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd")
                cut = text.find(OPEN) if names is not None else -1
                in_call = cut >= 0
                held = held_back(text) if names is not None else 0
                safe = text[:cut] if in_call else text[: len(text) - held]
                if len(safe) > len(sent) and safe.startswith(sent):
                    yield chunk({"content": safe[len(sent):]})
                    sent = safe
            gen = await future
            if self.shutdown.is_set():  # cut short by a stop request: say so rather than finish
                yield f"data: {json.dumps({'error': {'message': 'the server is shutting down', 'code': 503}})}\n\n"
                return
            parsed = self._parse(forced + gen.text, names)
            rest = self._content(parsed)
            rest = rest[len(sent.strip()):] if rest.startswith(sent.strip()) else ("\n" + rest if rest else "")
            if rest.strip():
                yield chunk({"content": rest})
            for i, c in enumerate(parsed.tool_calls):
                yield chunk({"tool_calls": [{"index": i, **self._call(c)}]})
            yield chunk({}, "tool_calls" if parsed.tool_calls else gen.finish_reason)
            if (req.stream_options or {}).get("include_usage"):
                yield chunk(None, usage=self._usage(gen))
            yield "data: [DONE]\n\n"
        finally:
            cancel.set()  # the client went away mid-stream: stop generating for it
            self._inflight.discard(cancel)


def run_server(
    model: str,
    *,
    adapter: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    name: str | None = None,
    default_max_tokens: int = 512,
    max_batch: int = 8,
    engine_kind: str = "transformers",
) -> None:
    """Load the model, listen, print ``serving NAME at URL`` once ready, stop on SIGINT/SIGTERM."""
    import contextlib
    import signal
    import socket

    import uvicorn

    from patchloop.llm.serving.local import LocalModel

    if engine_kind == "llamacpp":
        if adapter:
            raise LLMError("--adapter needs the transformers engine (llama.cpp serves the GGUF as it is)")
        from patchloop.llm.serving.engines.llamacpp import load_engine

        engine = load_engine(model)
    elif engine_kind == "transformers":
        engine = LocalModel(model, adapter)  # loads before we listen: a ready server can answer
    else:
        raise LLMError(f"unknown engine {engine_kind!r}: transformers or llamacpp")
    server = ChatServer(engine, name or engine.name, default_max_tokens, max_batch)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        raise LLMError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    bound = sock.getsockname()[1]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}/v1"

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            # uvicorn re-raises the signal after its graceful shutdown (a traceback and a
            # non-zero exit); a stop request is a normal end, so just shut down and return.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            old = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, h in old.items():
                    signal.signal(s, h)

        def handle_exit(self, sig, frame):
            # in-flight generations end at their next token (and answer 503) instead of
            # outlasting the graceful window and being cancelled with a traceback each
            server.stop_generating()
            super().handle_exit(sig, frame)

        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                print(f"serving {server.model_id} at {url}", flush=True)

    # SIGINT/SIGTERM: stop accepting, cut in-flight generations short, answer them, then return.
    config = uvicorn.Config(server.app, log_level="warning", timeout_graceful_shutdown=10)
    try:
        _Server(config).run(sockets=[sock])
    finally:
        server.close()
        sock.close()
