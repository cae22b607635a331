"""``patchloop serve`` over real HTTP on 127.0.0.1, called with the ``openai`` client and
with ``load_chat_model("openai:...")``; plus retries and errors against real sockets."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from patchloop.llm import LLMError, load_chat_model
from tests.llm.conftest import PROMPT, TOOLS

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def server(tool_model_dir, tmp_path_factory):
    """One server for the module; readiness = the printed URL answers /v1/models."""
    err = open(tmp_path_factory.mktemp("serve") / "stderr.txt", "w+")  # noqa: SIM115 -- lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "patchloop", "serve", "--model", str(tool_model_dir), "--port", "0", "--name", "tiny"],
        stdout=subprocess.PIPE, stderr=err, text=True,
    )
    line = proc.stdout.readline()  # blocks until the ready line or EOF (process died)
    if "serving" not in line:
        proc.kill()
        err.seek(0)
        pytest.fail(f"serve did not start: {line!r} {err.read()[-2000:]}")
    url = line.split(" at ")[-1].strip()
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, "serve did not shut down cleanly on SIGTERM"
    err.close()


@pytest.fixture
def client(server):
    import openai

    return openai.OpenAI(base_url=server, api_key="unused", timeout=120, max_retries=0)


def test_models_endpoint_lists_the_model_and_its_context(client, tool_model_dir):
    import json as _json

    [m] = client.models.list().data
    assert m.id == "tiny"
    ctx = _json.loads((tool_model_dir / "config.json").read_text())["max_position_embeddings"]
    assert m.model_extra["max_model_len"] == ctx  # vLLM's field: clients fit prompts to it


def test_tool_call_without_streaming(client):
    r = client.chat.completions.create(model="tiny", messages=PROMPT, tools=TOOLS, temperature=0, max_tokens=40)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "run" and json.loads(call.function.arguments) == {"cmd": "ls"}
    assert call.id.startswith("call_") and not choice.message.content
    assert r.usage.prompt_tokens > 100 and r.usage.completion_tokens > 10
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_tool_call_with_streaming_and_usage_chunk(client):
    plain = client.chat.completions.create(model="tiny", messages=PROMPT, tools=TOOLS, temperature=0, max_tokens=40)
    chunks = list(client.chat.completions.create(
        model="tiny", messages=PROMPT, tools=TOOLS, temperature=0, max_tokens=40,
        stream=True, stream_options={"include_usage": True},
    ))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    assert "".join(d.content or "" for d in deltas) == ""  # nothing of the tag leaked as text
    calls = [tc for d in deltas for tc in (d.tool_calls or [])]
    assert [(tc.index, tc.function.name, json.loads(tc.function.arguments)) for tc in calls] == [(0, "run", {"cmd": "ls"})]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == plain.usage.model_dump()


def test_plain_text_streams_the_same_text_as_a_single_reply(client):
    ask = {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "temperature": 0, "max_tokens": 8}
    whole = client.chat.completions.create(**ask)
    assert whole.choices[0].finish_reason == "length" and whole.usage.completion_tokens == 8
    chunks = list(client.chat.completions.create(**ask, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # really incremental
    assert text.strip() == (whole.choices[0].message.content or "").strip()


def test_four_concurrent_clients_all_get_their_own_answer(client):
    def ask(n):
        r = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": f"task {n}"}], temperature=0, max_tokens=3 + n
        )
        return r.usage.completion_tokens, r.choices[0].message.content

    alone = [ask(n) for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(ask, range(4)))
    assert together == alone and [t[0] for t in together] == [3, 4, 5, 6]


def test_load_chat_model_openai_against_the_server(server):
    chat = load_chat_model("openai:tiny", base_url=server, temperature=0, max_tokens=40,
                           logprobs=True, return_token_ids=True).bind_tools(TOOLS)
    msg = chat.invoke(PROMPT[0]["content"])
    assert [(c["name"], c["args"]) for c in msg.tool_calls] == [("run", {"cmd": "ls"})]
    assert msg.usage_metadata["output_tokens"] == len(msg.response_metadata["token_ids"])
    assert len(msg.response_metadata["logprobs"]) == len(msg.response_metadata["token_ids"])
    assert all(lp <= 0 for lp in msg.response_metadata["logprobs"])


def test_served_token_ids_are_the_local_engines_for_greedy_decoding(server, client, tool_model_dir):
    from patchloop.llm.serving.local import get_local_model

    engine = get_local_model(str(tool_model_dir))
    prompt = engine.render(PROMPT, TOOLS)
    local = engine.generate(prompt, max_new_tokens=40, temperature=0)
    r = client.chat.completions.create(model="tiny", messages=PROMPT, tools=TOOLS, temperature=0, max_tokens=40,
                                       logprobs=True, extra_body={"return_token_ids": True})
    assert r.model_extra["prompt_token_ids"] == prompt  # vLLM's place: on the response
    assert r.choices[0].model_extra["token_ids"] == local.token_ids
    served = [t.logprob for t in r.choices[0].logprobs.content]
    assert served == pytest.approx(local.logprobs, abs=1e-4)
    # and through the agent's client, into response_metadata
    msg = load_chat_model("openai:tiny", base_url=server, temperature=0, max_tokens=40, logprobs=True,
                          return_token_ids=True).bind_tools(TOOLS).invoke(PROMPT[0]["content"])
    meta = msg.response_metadata
    assert meta["prompt_token_ids"] == prompt and meta["token_ids"] == local.token_ids
    # without the field, no ids: nothing is sent that was not asked for
    plain = client.chat.completions.create(model="tiny", messages=PROMPT, temperature=0, max_tokens=4)
    assert "prompt_token_ids" not in (plain.model_extra or {}) and "token_ids" not in (plain.choices[0].model_extra or {})


@pytest.fixture
def strict_server():
    """A real HTTP server that rejects ``return_token_ids`` as a hosted API does; it answers
    other requests, recording each request body."""
    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            bodies.append(body)
            refused = "return_token_ids" in body
            reply = ({"error": {"message": "Unrecognized request argument supplied: return_token_ids"}}
                     if refused else REPLY)
            data = json.dumps(reply).encode()
            self.send_response(400 if refused else 200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", bodies
    httpd.shutdown()
    httpd.server_close()


def test_a_server_that_rejects_token_ids_is_asked_again_without_them(strict_server):
    url, bodies = strict_server
    chat = load_chat_model("openai:fake", base_url=url, max_retries=0, return_token_ids=True, logprobs=True)
    for _ in range(2):
        msg = chat.invoke("hi")
        assert msg.content == "ok" and "token_ids" not in msg.response_metadata
        assert "prompt_token_ids" not in msg.response_metadata
    # asked once with the field, then never again on this model object
    assert ["return_token_ids" in b for b in bodies] == [True, False, False]


def test_server_rejects_bad_requests_with_openai_errors(server, client):
    import openai

    with pytest.raises(openai.BadRequestError, match="only n=1"):
        client.chat.completions.create(model="tiny", messages=PROMPT, n=2)
    chat = load_chat_model("openai:tiny", base_url=server, max_retries=0)
    with pytest.raises(LLMError, match=r"answered HTTP 400: prompt is \d+ tokens but this model's context is 4096"):
        chat.invoke("x " * 5000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_is_a_quick_one_line_error():
    chat = load_chat_model("openai:m", base_url=f"http://127.0.0.1:{_free_port()}/v1", max_retries=0, timeout=5)
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1 \(model m\)") as e:
        chat.invoke("hi")
    assert time.monotonic() - start < 5 and "\n" not in str(e.value)


REPLY = {
    "id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "fake",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@pytest.fixture
def flaky_server():
    """A real HTTP server answering POSTs with the queued status codes, then 200."""
    state = {"codes": [], "hits": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            state["hits"].append(time.monotonic())
            code = state["codes"].pop(0) if state["codes"] else 200
            body = json.dumps(REPLY if code == 200 else {"error": {"message": f"status {code}"}}).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    httpd.shutdown()
    httpd.server_close()


def test_rate_limit_then_success_is_retried_with_growing_backoff(flaky_server):
    url, state = flaky_server
    state["codes"] = [429, 429]
    msg = load_chat_model("openai:fake", base_url=url, max_retries=3).invoke("hi")
    assert msg.content == "ok" and msg.usage_metadata["total_tokens"] == 4
    hits = state["hits"]
    assert len(hits) == 3
    first, second = hits[1] - hits[0], hits[2] - hits[1]
    assert first >= 0.3 and second >= 0.7 and second > first  # ~0.5 s then ~1 s, with jitter


def test_persistent_server_errors_end_in_one_line_error(flaky_server):
    url, state = flaky_server
    state["codes"] = [503] * 10
    with pytest.raises(LLMError, match="answered HTTP 503: status 503") as e:
        load_chat_model("openai:fake", base_url=url, max_retries=2).invoke("hi")
    assert len(state["hits"]) == 3 and "\n" not in str(e.value)


def test_cut_off_tool_call_reaches_the_agent_as_an_invalid_call(server):
    # A stop string cuts the model's (real) tool call mid-JSON: the server hands the broken
    # text back as content and the client turns it into an invalid call with an error.
    chat = load_chat_model("openai:tiny", base_url=server, temperature=0, max_tokens=40).bind_tools(TOOLS)
    msg = chat.invoke(PROMPT[0]["content"], stop=['"ls"'])
    assert msg.tool_calls == []
    [bad] = msg.invalid_tool_calls
    assert "never closed" in bad["error"] and "not valid JSON" in bad["error"]
    assert msg.response_metadata["finish_reason"] == "stop"


def test_tool_choice_none_means_no_tool_calls(client):
    r = client.chat.completions.create(model="tiny", messages=PROMPT, tools=TOOLS, tool_choice="none",
                                       temperature=0, max_tokens=20)
    assert not r.choices[0].message.tool_calls and r.choices[0].finish_reason != "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "run"}}])
def test_tool_choice_required_or_named_forces_a_call(client, choice, stream):
    # "hello" is not what the tool model learnt to answer with a call; forced, it still calls run
    ask = {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "tools": TOOLS,
           "tool_choice": choice, "temperature": 0, "max_tokens": 40}
    if stream:
        chunks = list(client.chat.completions.create(**ask, stream=True))
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        names = [tc.function.name for d in deltas for tc in (d.tool_calls or [])]
        text = "".join(d.content or "" for d in deltas)
    else:
        msg = client.chat.completions.create(**ask).choices[0].message
        names = [tc.function.name for tc in msg.tool_calls or []]
        text = msg.content or ""
    # a call to run, or (broken arguments) the forced call's text handed back as content
    assert names == ["run"] or (not names and text.startswith('<tool_call>\n{"name": "run'))
    free = client.chat.completions.create(**{**ask, "tool_choice": "auto"}).choices[0].message
    assert not free.tool_calls  # unforced, the model does not call a tool for "hello"


@pytest.mark.parametrize("choice, part", [
    ({"type": "function", "function": {"name": "rm"}}, "not among the tools"),
    ("sometimes", "unsupported tool_choice"),
])
def test_bad_tool_choice_is_a_400(server, choice, part):
    body = {"messages": PROMPT, "tools": TOOLS, "tool_choice": choice}
    r = httpx.post(f"{server}/chat/completions", json=body, timeout=30)
    assert r.status_code == 400 and part in r.json()["error"]["message"]
    r = httpx.post(f"{server}/chat/completions", json={"messages": PROMPT, "tool_choice": "required"}, timeout=30)
    assert r.status_code == 400 and "requires tools" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "body, part",
    [
        (b"{not json", "bad request"),
        (b'{"messages": "hello"}', "bad request"),
        (b'[1, 2]', "bad request"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}', "bad request"),
    ],
)
def test_hostile_request_bodies_get_400_and_the_server_lives_on(server, body, part):
    r = httpx.post(f"{server}/chat/completions", content=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400 and part in r.json()["error"]["message"]
    assert httpx.get(f"{server}/models", timeout=30).status_code == 200


def test_openai_chat_model_streams_text_and_tool_calls_from_serve(server):
    from functools import reduce

    chat = load_chat_model("openai:tiny", base_url=server, temperature=0, max_tokens=40)
    text_chunks = list(chat.stream("hello"))
    assert len([c for c in text_chunks if c.content]) > 1  # token by token, not one block
    whole = chat.invoke("hello")
    assert "".join(c.content for c in text_chunks).strip() == whole.content.strip()
    merged = reduce(lambda a, b: a + b, chat.bind_tools(TOOLS).stream(PROMPT[0]["content"]))
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [("run", {"cmd": "ls"})]
    assert not merged.content and merged.response_metadata["finish_reason"] == "tool_calls"
    assert merged.usage_metadata["output_tokens"] > 10


def test_openai_chat_model_stream_parses_tool_call_text_of_servers_without_a_parser():
    """llama.cpp/Ollama without a tool parser stream the call as text, here split mid-tag:
    the words before it stream as content, the call arrives as a call, no tag leaks."""
    pieces = ["I will ", "list them. <tool", '_call>{"name": "run", "arguments": ', '{"cmd": "ls"}}</tool_call>']

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for text in pieces + [None]:
                delta = {"content": text} if text is not None else {}
                body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None if text else "stop"}]}
                self.wfile.write(f"data: {json.dumps(body)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        chat = load_chat_model("openai:fake", base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1")
        chunks = list(chat.bind_tools(TOOLS).stream("list the files"))
    finally:
        httpd.shutdown()
        httpd.server_close()
    contents = [c.content for c in chunks if c.content]
    assert "".join(contents).strip() == "I will list them." and not any("<" in c for c in contents)
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [("run", {"cmd": "ls"})]
    assert merged.response_metadata["finish_reason"] == "stop"


def test_a_teacher_sees_the_prompt_tokens_the_server_had_cached(server):
    """Two prompts with one long common start: the second is mostly answered from serve's prefix
    cache, and the teacher's reply says how much (the datagen bench reports it per stage)."""
    from patchloop.datagen.instruct.teacher import ChatTeacher

    teacher = ChatTeacher("openai:tiny", base_url=server, temperature=0, max_tokens=8)
    head = "Write a function inspired by this code. " * 12
    first = teacher.ask(head + "def a(): pass", seed=1)
    second = teacher.ask(head + "def b(): return 2", seed=1)
    assert first.prompt_tokens > 40 and second.prompt_tokens > 40
    assert 40 < second.cached_tokens < second.prompt_tokens


def test_a_live_token_handler_makes_an_openai_model_stream_its_reply(server):
    """`fix` attaches a live token count; an OpenAI-compatible model then streams, so the
    count grows as the reply arrives instead of the screen waiting for the whole reply."""
    from patchloop.agent.live_reply import LiveReply

    shown: list[str] = []
    chat = load_chat_model("openai:tiny", base_url=server, temperature=0, max_tokens=30)
    reply = chat.bind_tools(TOOLS).invoke(PROMPT[0]["content"], config={"callbacks": [LiveReply(shown.append, every=0)]})
    assert len(shown) > 1 and shown[0].startswith("the model is writing: 1 token")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("run", {"cmd": "ls"})]  # the same reply, whole
    assert reply.usage_metadata["output_tokens"] > 10
