"""`patchloop mcp` through a real MCP client session over stdio, on a real repository: the
fix tool's model is an OpenAI-compatible stub on 127.0.0.1 replaying a fix the way a small
model writes it (calls as fenced JSON), so the control flow is scripted but every hop is real."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.agent.test_agent_graph import FIX_SCRIPT

SCRIPT = ["```json\n" + json.dumps({"name": m.tool_calls[0]["name"], "arguments": m.tool_calls[0]["args"]}) + "\n```"
          for m in FIX_SCRIPT]


class Scripted(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send({"object": "list", "data": [{"id": "small", "object": "model", "max_model_len": 32768}]})

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        turn = sum(m["role"] == "assistant" for m in req["messages"])
        self._send({"id": f"r{turn}", "object": "chat.completion", "created": 0, "model": "small",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": SCRIPT[min(turn, len(SCRIPT) - 1)]}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})


@pytest.fixture
def model_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def user_repo(textkit_task, tmp_path):
    from patchloop.evals.repos import checkout_task_repo

    return checkout_task_repo(textkit_task, tmp_path / "mine")


def text_of(result) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def session(model_url, user_repo, textkit_task):
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "patchloop", "mcp", "--model", "openai:small",
                                                                 "--base-url", model_url, "--backend", "local"])
    progress: list[tuple] = []

    async def on_progress(done, total, message):
        progress.append((done, total, message))

    async with Client(params) as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        outline = text_of(await client.call_tool("repo_map", {"repo": str(user_repo), "query": "truncate"}))
        before = text_of(await client.call_tool("run_tests", {"repo": str(user_repo), "selector": "tests/test_trunc.py"}))
        fix = await client.call_tool("propose_fix", {"repo": str(user_repo), "issue": textkit_task.problem_statement,
                                                     "max_steps": 10}, progress_callback=on_progress)
        proposal = fix.structured_content or json.loads(text_of(fix))
        untouched = (user_repo / "textkit" / "trunc.py").read_text()
        applied = text_of(await client.call_tool("apply_diff", {"repo": str(user_repo), "diff": proposal["diff"]}))
        again = await client.call_tool("apply_diff", {"repo": str(user_repo), "diff": proposal["diff"]})
        missing = await client.call_tool("repo_map", {"repo": str(user_repo / "nope")})
    return locals()


def test_an_editor_session_over_stdio(model_url, user_repo, textkit_task):
    r = asyncio.run(session(model_url, user_repo, textkit_task))
    assert r["names"] == ["apply_diff", "propose_fix", "repo_map", "run_tests"]
    assert "textkit/trunc.py" in r["outline"] and "truncate" in r["outline"]
    assert r["before"].startswith("tests (tests/test_trunc.py):") and "passed" in r["before"]  # a real test run
    proposal = r["proposal"]
    assert proposal["exit_reason"] == "submitted" and proposal["applied"] is False
    assert "+    if len(text) <= width:" in proposal["diff"]
    assert any("passed" in t["tests"] and "failed" not in t["tests"] for t in proposal["tests_run"])
    assert "if len(text) < width:" in r["untouched"]  # proposing applied nothing
    assert len(r["progress"]) == 6 and r["progress"][-1][:2] == (6, 10) and "submit" in r["progress"][-1][2]
    assert r["applied"].startswith("applied to")
    assert "if len(text) <= width:" in (user_repo / "textkit" / "trunc.py").read_text()
    assert r["again"].is_error and "does not apply" in text_of(r["again"])  # a conflict is one line, nothing changes
    assert r["missing"].is_error and "repository not found" in text_of(r["missing"])
    status = subprocess.run(["git", "status", "--porcelain"], cwd=user_repo, capture_output=True, text=True, check=False)
    assert status.stdout.strip() == "M textkit/trunc.py"
