"""A server patchloop starts never outlives the process that started it, even one killed with
SIGKILL (no ``finally`` runs then); start failures are one line naming the cause."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from patchloop.llm.generation import GenerationError
from patchloop.llm.serving.process import ManagedServer, free_port

STARTER = """
import sys
from pathlib import Path
from patchloop.llm.serving.process import ManagedServer
s = ManagedServer("web", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", sys.argv[1]],
                  port=int(sys.argv[1]), env={}, log_path=Path(sys.argv[2]))
s.start(ready_path="/", timeout=60)
print(s.proc.pid, flush=True)
sys.stdin.read()  # wait to be killed
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for our purpose
        return f.read().split()[2] != "Z"


def test_a_server_dies_with_a_starter_killed_by_sigkill(tmp_path):
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(free_port()), str(tmp_path / "log")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    server_pid = int(starter.stdout.readline())
    assert _alive(server_pid)
    starter.send_signal(signal.SIGKILL)
    starter.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling another process's exit: there is no event to wait on
    assert not _alive(server_pid)


def test_a_taken_port_and_a_server_that_exits_are_one_line_each(tmp_path):
    port = free_port()
    with ManagedServer("web", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], port=port,
                       env={}, log_path=tmp_path / "a.log") as first:
        first.start(ready_path="/", timeout=60)
        with pytest.raises(GenerationError, match=f"port {port} on 127.0.0.1 is taken"):
            ManagedServer("web2", ["true"], port=port, env={}, log_path=tmp_path / "b.log").start(ready_path="/",
                                                                                               timeout=5)
    dying = ManagedServer("dying", [sys.executable, "-c", "raise SystemExit('no such model: x')"], port=free_port(),
                          env={}, log_path=tmp_path / "c.log")
    with pytest.raises(GenerationError, match="exited during start .*no such model: x") as e:
        dying.start(ready_path="/", timeout=60)
    assert "\n" not in str(e.value)
