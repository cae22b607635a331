"""A server process patchloop starts, waits for, and always stops.

Used for every engine that runs out of process (vLLM, llama-server, ``patchloop serve``): the
process gets its own session (so stopping it stops its workers too), its output goes to a log
file, and readiness is an HTTP answer on 127.0.0.1, with the process watched meanwhile so a
server that dies during start is reported at once with its last log line, not after a timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from patchloop.llm.generation import GenerationError


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the process that started it dies, however it
    dies (a SIGKILL runs no ``finally``), so an engine never outlives its run (Linux only)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", int(port))) == 0


def last_log_line(path: Path) -> str:
    """The last line of a log that says something (an error is usually last)."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        if any(w in line for w in ("Error", "error", "ERROR", "failed", "Failed")):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


class ManagedServer:
    """``cmd`` serving HTTP on ``port``; a context manager that always stops it."""

    def __init__(self, name: str, cmd: list[str], *, port: int, env: dict[str, str], log_path: Path):
        self.name, self.cmd, self.port, self.env, self.log_path = name, cmd, int(port), env, Path(log_path)
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, ready_path: str, timeout: float) -> None:
        if port_in_use(self.port):
            raise GenerationError(f"{self.name}: port {self.port} on 127.0.0.1 is taken")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **self.env}, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        except OSError as e:
            raise GenerationError(f"{self.name}: cannot start {self.cmd[0]}: {e.strerror or e}") from None
        finally:
            log.close()
        self._wait_ready(ready_path, timeout)

    def _wait_ready(self, path: str, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise GenerationError(f"{self.name}: the server exited during start (code {self.proc.returncode}): "
                                      f"{last_log_line(self.log_path)} (log: {self.log_path})")
            try:
                if httpx.get(self.base_url + path, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            # Polling a child process's port: there is no event to wait on across processes.
            time.sleep(0.5)
        self.stop()
        raise GenerationError(f"{self.name}: not ready after {timeout:.0f} s (log: {self.log_path})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
