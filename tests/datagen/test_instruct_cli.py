"""The stages as commands, with the teacher behind real HTTP (a scripted OpenAI-compatible
endpoint): seeds from a pip download, OSS-Instruct, clean, and the HumanEval check."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from patchloop.cli import app
from patchloop.types import read_jsonl
from tests.datagen import teacher_replies as R
from tests.datagen.test_seeds import _wheel

REPLIES = [R.good("double_all"), R.NO_CODE, R.good("double_all"), R.WRONG]


@pytest.fixture
def endpoint():
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            text = REPLIES[(len(seen) - 1) % len(REPLIES)]
            out = json.dumps({"id": f"c{len(seen)}", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": text}}],
                              "usage": {"prompt_tokens": 10, "completion_tokens": 50, "total_tokens": 60}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    server.shutdown()


def test_seeds_oss_instruct_clean_and_check_from_the_command_line(tmp_path, endpoint, monkeypatch):
    url, seen = endpoint
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path / "cache"))
    index = tmp_path / "index"
    index.mkdir()
    _wheel(index, "goodpkg", "License-Expression: BSD-3-Clause\n")
    run = CliRunner().invoke
    r = run(app, ["datagen", "seeds-pypi", "--packages", "goodpkg", "--out", str(tmp_path / "seeds"),
                  "--pip-arg=--no-index", f"--pip-arg=--find-links={index}", "--no-progress"])
    assert r.exit_code == 0, r.output
    teacher = ["--model", "openai:scripted-teacher", "--base-url", url, "--backend", "local", "--no-progress"]
    r = run(app, ["datagen", "oss-instruct", "--seeds", str(tmp_path / "seeds" / "tasks.jsonl"), "--out",
                  str(tmp_path / "oss"), "--n", "4", "--temperature", "0.2", *teacher])
    assert r.exit_code == 0, r.output
    assert "generated 4, parsed 3, executed 3, passed 2, kept 2" in r.output
    assert "teacher: 200 tokens" in r.output
    assert len(seen) == 4 and seen[0]["model"] == "scripted-teacher" and seen[0]["temperature"] == 0.2
    assert len({b["seed"] for b in seen}) == 4  # every sample has its own seed
    r = run(app, ["datagen", "oss-instruct", "--seeds", str(tmp_path / "seeds" / "tasks.jsonl"), "--out",
                  str(tmp_path / "oss"), "--n", "4", "--temperature", "0.9", *teacher])
    assert r.exit_code == 1 and "made by another recipe" in r.output and "Traceback" not in r.output
    assert len(seen) == 4
    r = run(app, ["datagen", "clean", str(tmp_path / "oss" / "tasks.jsonl"), "--out", str(tmp_path / "clean"),
                  "--backend", "local", "--name", "oss-demo"])
    assert r.exit_code == 0, r.output
    assert "kept 1 tasks" in r.output and "dedup removed 1 exact" in r.output
    (row,) = read_jsonl(tmp_path / "clean" / "tasks.jsonl")
    assert row["seed_licence"] == "BSD-3-Clause" and row["seed_package"] == "goodpkg"
    card = json.loads((tmp_path / "clean" / "card.json").read_text())
    assert card["teacher"] == "openai:scripted-teacher" and card["licences"] == {"BSD-3-Clause": 1}
    r = run(app, ["datagen", "check-humaneval", str(tmp_path / "clean")])
    assert r.exit_code == 0 and "0 of 1 tasks contaminated by HumanEval" in r.output


def test_an_unreachable_teacher_is_one_line(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "x", "text": "x = 1\n"}) + "\n")
    r = CliRunner().invoke(app, ["datagen", "oss-instruct", "--seeds", str(seeds), "--out", str(tmp_path / "o"),
                                 "--n", "3", "--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1",
                                 "--backend", "local", "--no-progress"])
    assert r.exit_code == 1 and "3 teacher failures in a row" in r.output and "cannot reach" in r.output
    assert "Traceback" not in r.output
