"""The agent fits its prompts to the model's real window: a model whose context is smaller
than the first prompt the agent would write by default (a long pasted log in the issue,
tool schemas, the repository outline) still gets only requests it can take.

Two backends, both counting with the tiny model's real tokenizer: the local checkpoint
(``hf:``, its config says the window) and an OpenAI-compatible server on 127.0.0.1 that
reports ``max_model_len`` in ``/v1/models`` as vLLM and ``patchloop serve`` do, and, as
vLLM does, answers HTTP 400 to a prompt that does not leave room for the reply.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from patchloop.agent.runner import run_episode
from patchloop.types import Task
from tests.agent.conftest import agent_config

WINDOW = 2048
LOG = "".join(f"  File \"/srv/app/textkit/trunc.py\", line {i}, in truncate\n    return text[:width] + '...'\n" for i in range(90))


def long_issue_task(task: Task) -> Task:
    """The built-in instance with a pasted traceback: ~4,000 tokens before any fitting."""
    import dataclasses

    return dataclasses.replace(task, problem_statement=task.problem_statement + "\n\nFull log:\n" + LOG)


@pytest.fixture(scope="module")
def small_model_dir(tmp_path_factory):
    from patchloop.llm.catalog.tiny import init_tiny

    src = init_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)
    dst = tmp_path_factory.mktemp("small") / "model"
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    (dst / "config.json").write_text(json.dumps({**cfg, "max_position_embeddings": WINDOW}))
    return dst


def first_prompt_tokens(tokenizer, task, sandbox) -> int:
    """What the agent sent before it fitted anything: system + task + full outline + tools."""
    from langchain_core.messages import convert_to_openai_messages

    from patchloop.agent.context import counter
    from patchloop.agent.tools import SandboxTools, langchain_tools
    from patchloop.agent.window import opening_messages, schema_specs

    cfg = agent_config(context_tokens=10**6)
    tools = SandboxTools(sandbox, cfg, task.problem_statement)
    msgs = convert_to_openai_messages(opening_messages(task, tools, cfg, counter(), 0))
    specs = [{"type": "function", "function": s} for s in schema_specs(langchain_tools(tools))]
    return len(tokenizer.apply_chat_template(msgs, tools=specs, add_generation_prompt=True, return_dict=True)["input_ids"])


def test_a_local_checkpoint_smaller_than_the_first_prompt(small_model_dir, textkit_task, textkit_sandbox):
    from transformers import AutoTokenizer

    from patchloop.llm import load_chat_model

    task = long_issue_task(textkit_task)
    assert first_prompt_tokens(AutoTokenizer.from_pretrained(small_model_dir), task, textkit_sandbox) > WINDOW + 1000
    model = load_chat_model(f"hf:{small_model_dir}", max_tokens=16, seed=0)
    traj = run_episode(model, textkit_sandbox, task, agent_config(max_steps=2, completion_tokens=16))
    assert traj.exit_reason in ("max_steps", "submitted") and traj.steps  # no LLMError: every prompt fitted
    assert all(s.prompt_tokens + 16 <= WINDOW for s in traj.steps)  # counted by the engine itself
    assert f"context {WINDOW} tokens" in traj.extra["window"] and "tokenizer" in traj.extra["window"]
    opening = traj.extra["opening_messages"][1]["content"]
    assert "shortened to fit" in opening and "truncate" in opening  # the issue's head survives


class StubServer(BaseHTTPRequestHandler):
    """/v1/models with max_model_len (and root, so the client can use the tokenizer), and a
    chat endpoint that refuses what does not fit, otherwise answers with a small model's reply."""

    tokenizer = None
    root: str | None = None
    prompts: list[int] = []
    replies = ['```json\n{"name": "view", "arguments": {"path": "textkit/trunc.py"}}\n```', "submit"]

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        entry = {"id": "small", "object": "model", "owned_by": "test", "max_model_len": WINDOW}
        self._send(200, {"object": "list", "data": [entry | ({"root": self.root} if self.root else {})]})

    def do_POST(self):
        from patchloop.llm.serving.server import _plain_messages

        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ids = self.tokenizer.apply_chat_template(_plain_messages(req["messages"]), tools=req.get("tools"),
                                                 add_generation_prompt=True, return_dict=True)["input_ids"]
        n, want = len(ids), req.get("max_tokens") or 16
        if n + want > WINDOW:  # vLLM's check and wording
            msg = f"This model's maximum context length is {WINDOW} tokens. However, you requested {n + want} tokens"
            return self._send(400, {"error": {"message": msg, "type": "BadRequestError"}})
        type(self).prompts.append(n)
        turn = sum(m["role"] == "assistant" for m in req["messages"])
        content = self.replies[min(turn, len(self.replies) - 1)]
        self._send(200, {"id": f"r{len(type(self).prompts)}", "object": "chat.completion", "created": 0, "model": "small",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": n, "completion_tokens": 8, "total_tokens": n + 8}})


@pytest.fixture
def stub_url(small_model_dir, request):
    from transformers import AutoTokenizer

    handler = type("Stub", (StubServer,), {"tokenizer": AutoTokenizer.from_pretrained(small_model_dir), "prompts": [],
                                           "root": str(small_model_dir) if request.param else None})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("stub_url", [True, False], ids=["tokenizer-from-root", "estimated"], indirect=True)
def test_an_endpoint_reporting_max_model_len(stub_url, textkit_task, textkit_sandbox):
    from patchloop.llm import load_chat_model

    url, handler = stub_url
    model = load_chat_model("openai:small", base_url=url, max_tokens=64, max_retries=0)
    # the user asked for 32,000; the server says 2,048, and that is what the agent uses
    traj = run_episode(model, textkit_sandbox, long_issue_task(textkit_task),
                       agent_config(max_steps=4, completion_tokens=64, context_tokens=32_000,
                                    empty_submit_retries=0))  # the stub submits without an edit
    assert traj.exit_reason == "submitted" and len(traj.steps) == 2, traj.extra["window"]
    assert len(handler.prompts) == 2 and max(handler.prompts) + 64 <= WINDOW
    assert f"max_model_len={WINDOW}" in traj.extra["window"] and "less than the 32000" in traj.extra["window"]
    assert ("tokenizer" in traj.extra["window"]) == (handler.root is not None)
    assert "def truncate" in traj.steps[0].observations[0]  # the fenced call ran; its output fit too
