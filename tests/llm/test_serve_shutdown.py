"""Stopping ``patchloop serve`` while it generates: the generation ends at its next token, the
process exits 0 without a traceback, and a reply cut short is a 503, not a truncated answer."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.train


def test_sigterm_during_a_long_generation_ends_it_cleanly(tiny_model_dir, tmp_path):
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", str(tiny_model_dir),
                                 "--port", "0"], stdout=subprocess.PIPE, stderr=err, text=True)
        line = proc.stdout.readline()
        assert "serving" in line, err_path.read_text()[-2000:]
        url = line.split(" at ")[-1].strip()
        # the untrained tiny model decodes 3,000 greedy tokens without an end token: a minute here
        ask = {"model": "m", "messages": [{"role": "user", "content": "count"}], "temperature": 0,
               "max_tokens": 3000, "stream": True}
        chunks, ended_with_error = 0, False
        with httpx.stream("POST", f"{url}/chat/completions", json=ask, timeout=120) as resp:
            for raw in resp.iter_lines():
                if raw.startswith('data: {"error"'):
                    ended_with_error = "shutting down" in raw
                elif raw.startswith("data: {"):
                    chunks += 1
                    if chunks == 1:
                        proc.send_signal(signal.SIGTERM)  # while the generation runs
        assert proc.wait(timeout=60) == 0
    assert chunks < 1000 and ended_with_error  # cut short at the next token and said so
    assert "Traceback" not in err_path.read_text()


def test_a_reply_cut_short_by_shutdown_is_a_503(tiny_engine):
    from fastapi.testclient import TestClient

    from patchloop.llm.serving.server import ChatServer

    server = ChatServer(tiny_engine, "tiny")
    try:
        server.shutdown.set()
        r = TestClient(server.app).post("/v1/chat/completions", json={
            "model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50})
        assert r.status_code == 503 and "shutting down" in r.json()["error"]["message"]
    finally:
        server.close()


def test_a_client_that_hangs_up_stops_its_generation(tiny_model_dir, tmp_path):
    """A client that timed out and went away must not keep the model busy: the next request
    is answered at once, not after the abandoned 4,000 tokens (a minute or more here)."""
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", str(tiny_model_dir),
                                 "--port", "0"], stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            url = proc.stdout.readline().split(" at ")[-1].strip()
            ask = {"model": "m", "messages": [{"role": "user", "content": "count"}], "temperature": 0}
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{url}/chat/completions", json={**ask, "max_tokens": 4000}, timeout=2)
            r = httpx.post(f"{url}/chat/completions", json={**ask, "max_tokens": 4}, timeout=20)
            assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
