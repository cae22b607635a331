"""The host side of a sandbox: talks to ``runner/server.py`` and holds what both backends share.

A backend supplies a transport (``_send`` a request line, ``_recv_line`` a reply line) and
file transfer (``_put``/``_get``); this class turns those into the ``Sandbox`` protocol:
commands, patches, the diff against the base commit, reset, and a close that always happens.

Why a registry instead of ``__del__``: finalizers run late, in any order, or never (a
reference cycle, an interpreter shutting down). Every open sandbox is listed here and
closed by ``close()``, the context manager, ``atexit``, or SIGTERM/SIGHUP (turned into
``SystemExit`` so ``with`` blocks unwind); Ctrl-C already raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import atexit
import base64
import json
import logging
import os
import shlex
import signal
import socket
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self

from patchloop.sandbox import patching
from patchloop.sandbox.base import SandboxError, SandboxLimits
from patchloop.types import ExecResult

log = logging.getLogger(__name__)

# The runner's file errors are the caller's mistakes (a wrong path), raised as such; only
# the runner failing to answer is a SandboxError.
_FILE_ERRORS = {e.__name__: e for e in (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
                                        FileExistsError, OSError)}
_OPEN: dict[int, RunnerSandbox] = {}
_OPEN_LOCK = threading.Lock()
_ATEXIT = False
_SIGNALS = False


def close_all() -> None:
    """Close every sandbox this process still has open (atexit and signal path)."""
    with _OPEN_LOCK:
        boxes = list(_OPEN.values())
    for box in boxes:
        try:
            box.close()
        except Exception as e:  # noqa: BLE001 -- keep closing the others
            log.warning("closing sandbox %s failed: %s", box.task_id, e)


def _on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _install_hooks() -> None:
    global _ATEXIT, _SIGNALS
    if not _ATEXIT:
        _ATEXIT = True
        atexit.register(close_all)
    if _SIGNALS or threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread: the next sandbox made there will
    _SIGNALS = True
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:  # never override an application's own handler
            signal.signal(sig, _on_signal)


def _start_ticks(pid: int) -> str:
    """Process start time (clock ticks since boot): tells a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        return stat[stat.rindex(b")") + 2 :].split()[19].decode()
    except (OSError, IndexError, ValueError):
        return ""


def owner_labels() -> dict[str, str]:
    return {"patchloop": "1", "patchloop.host": socket.gethostname(), "patchloop.pid": str(os.getpid()),
            "patchloop.pid_start": _start_ticks(os.getpid())}


def owner_gone(labels: dict[str, str]) -> bool:
    """True when the process that made a sandbox (per its labels) no longer runs on this host."""
    if labels.get("patchloop.host") != socket.gethostname():
        return False  # another machine's sandbox: not ours to judge
    try:
        pid = int(labels.get("patchloop.pid", ""))
    except ValueError:
        return True
    if not Path("/proc").is_dir():  # no start times to compare (macOS): liveness only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    start = _start_ticks(pid)
    return not start or start != labels.get("patchloop.pid_start", start)


class RunnerSandbox(ABC):
    """Common implementation of the ``Sandbox`` protocol over a ``runner/server.py`` server."""

    workdir: str = "/workspace"
    tmpdir: str = "/tmp"
    git_state: bytes = b""  # tar of .git minus objects, taken at init_base, restored by reset
    backend: str = "?"

    def __init__(self, limits: SandboxLimits | None, task_id: str):
        self.limits = limits or SandboxLimits()
        self.task_id = task_id
        self.base_commit = ""
        self.closed = False
        self.broken = ""  # why the runner can no longer be trusted to answer in step
        self._lock = threading.RLock()
        _install_hooks()
        with _OPEN_LOCK:
            _OPEN[id(self)] = self

    # ---- backend hooks
    @abstractmethod
    def _send(self, data: bytes) -> None: ...

    @abstractmethod
    def _recv_line(self, timeout: float) -> bytes: ...

    @abstractmethod
    def _put(self, path: str, data: bytes) -> None: ...

    @abstractmethod
    def _get(self, path: str) -> bytes: ...

    @abstractmethod
    def _shutdown(self) -> None: ...

    @abstractmethod
    def _base_env(self) -> dict[str, str]: ...

    def _rlimits(self, timeout: float) -> dict[str, int]:
        return {"NOFILE": self.limits.open_files, "FSIZE": self.limits.file_bytes, "CORE": 0}

    # ---- protocol with the runner
    def request(self, req: dict, timeout: float = 60.0) -> dict:
        """One request/reply with the runner; infrastructure failures raise ``SandboxError``."""
        if self.closed:
            raise SandboxError(self.task_id, "sandbox is closed")
        if self.broken:
            raise SandboxError(self.task_id, f"sandbox is broken: {self.broken}")
        with self._lock:
            try:
                self._send(json.dumps(req).encode() + b"\n")
                line = self._recv_line(timeout)
                reply = json.loads(line)
            except BaseException as e:
                # A reply may still be on its way: the stream is out of step for good.
                self.broken = f"{req.get('op')} interrupted: {type(e).__name__}: {e}"
                if isinstance(e, (OSError, ValueError)):
                    raise SandboxError(self.task_id, f"runner did not answer {req.get('op')}: {e}") from e
                raise
        if not reply.get("ok"):
            kind = _FILE_ERRORS.get(reply.get("error", "").split(":", 1)[0])
            if kind is not None:  # a missing file is the caller's mistake, not the sandbox's
                raise kind(reply["error"].split(": ", 1)[-1])
            raise SandboxError(self.task_id, f"runner failed {req.get('op')}: {reply.get('error')}")
        return reply

    def run(self, cmd: str, *, timeout: float | None = None, env: dict[str, str] | None = None,
            cap: int | None = None) -> ExecResult:
        timeout = self.limits.timeout_s if timeout is None else float(timeout)
        req = {"op": "run", "cmd": cmd, "cwd": self.workdir, "env": {**self._base_env(), **(env or {})},
               "timeout": timeout, "cap": cap or self.limits.output_bytes, "rlimits": self._rlimits(timeout)}
        reply = self.request(req, timeout=timeout + 60)
        reply.pop("ok")
        return ExecResult(**reply)

    def sweep(self) -> None:
        """Kill every process left in the sandbox (also done after each command)."""
        self.request({"op": "sweep"})

    def realpaths(self, paths: list[str]) -> list[str]:
        """``os.path.realpath`` of each path, resolved inside the sandbox."""
        return self.request({"op": "realpaths", "paths": paths})["paths"]

    def abspath(self, path: str) -> str:
        return path if path.startswith("/") else f"{self.workdir}/{path}"

    # ---- files
    def write_via_runner(self, path: str, data: bytes) -> None:
        self.request({"op": "write", "path": path, "data": base64.b64encode(data).decode()})

    def read_via_runner(self, path: str) -> bytes:
        return base64.b64decode(self.request({"op": "read", "path": path})["data"])

    def write_file(self, path: str, data: str | bytes) -> None:
        self._put(self.abspath(path), data.encode() if isinstance(data, str) else data)

    def read_bytes(self, path: str) -> bytes:
        return self._get(self.abspath(path))

    def read_file(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", "replace")

    # ---- git workspace
    def git(self, args: str, timeout: float = 120.0, cap: int | None = None) -> ExecResult:
        return self.run(f"git {args}", timeout=timeout, cap=cap, env=patching.GIT_ENV)

    def init_base(self) -> None:
        """Record the base commit: the copied repo's HEAD, or a fresh commit of what is there."""
        head = self.git("rev-parse --verify -q HEAD^{commit}")
        if not head.ok:
            made = self.git("init -q . && git add -A && git commit -q --allow-empty -m 'patchloop base'")
            head = self.git("rev-parse HEAD")
            if not made.ok or not head.ok:
                raise SandboxError(self.task_id, f"cannot make the base commit: {made.output}{head.output}")
        self.base_commit = head.stdout.strip()
        state = self.run(patching.git_state_snapshot(self.tmpdir), timeout=120, env=patching.GIT_ENV)
        if not state.ok:
            raise SandboxError(self.task_id, f"cannot snapshot git state: {state.output[-500:]}")
        path = f"{self.tmpdir}/{patching.GIT_STATE_FILE}"
        self.git_state = self.read_bytes(path)
        self.run(f"rm -f {shlex.quote(path)}", timeout=30)

    def apply_patch(self, diff: str) -> ExecResult:
        return patching.apply_patch(self, diff)

    def diff(self) -> str:
        return patching.workspace_diff(self)

    def reset(self) -> None:
        """Kill leftovers, return to the base commit, empty /tmp (what a pool does between tasks)."""
        self.sweep()
        if self.git_state:
            # git's own files first: a task can plant settings (core.fsmonitor, hooks,
            # info/exclude, replace refs, alternates) that reset --hard leaves alone and that
            # would run code in, or hide files from the diff of, the next task on a pool
            try:
                self.request({"op": "restore_git", "path": f"{self.workdir}/.git",
                              "data": base64.b64encode(self.git_state).decode()})
            except OSError as e:
                raise SandboxError(self.task_id, f"reset failed: cannot restore .git: {e}") from e
        script = patching.reset_script(self.base_commit, self.tmpdir)
        res = self.run(script, timeout=120, env=patching.GIT_ENV)
        if not res.ok:
            raise SandboxError(self.task_id, f"reset failed: {res.output}")

    # ---- lifetime
    def close(self) -> None:
        """Remove the sandbox and everything in it. Idempotent; safe from any thread."""
        with _OPEN_LOCK:
            if self.closed:
                return
            self.closed = True
            _OPEN.pop(id(self), None)
        self._shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_ready(self, timeout: float) -> dict:
        start = time.monotonic()
        try:
            info = json.loads(self._recv_line(timeout))
        except (OSError, ValueError, SandboxError) as e:
            raise SandboxError(self.task_id, f"runner did not start: {e}") from e
        if info.get("ready") is not True:  # it refused: a hardening step did not take
            raise SandboxError(self.task_id, f"runner refused to start: {info.get('error', info)}")
        info["start_s"] = time.monotonic() - start
        return info
