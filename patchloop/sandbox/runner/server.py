#!/usr/bin/env python3
"""patchloop's command runner: the one place where a sandbox command is started, capped and killed.

Standard library only: this file and the modules it imports (``RUNNER_FILES`` in
``patchloop.sandbox.boot``) travel into the sandbox the same way for both backends, as the
first line of the stdin of a one-line ``python3 -c`` bootstrap (``boot.BOOT``), so both
run commands with the very same ``run_command``. Its parts: ``runner_output`` (output capping),
``runner_procs`` (libc calls, sweeping and reaping) and ``runner_mounts`` (the local backend's
mount lock-down).

As a server (``--serve``) it reads one JSON request per line on stdin and writes one JSON
reply per line on stdout. In a container it is PID 1: it reaps zombies, and because the
kernel ignores signals to a namespace's init that it has no handler for, untrusted code
cannot kill it. After every command it sweeps: any process still alive besides the runner
(a daemon that ``setsid``-ed away, a ``nohup`` left behind) is SIGKILLed, so nothing runs
between commands.

Requests: ``{"op": "run", "cmd", "cwd", "env", "timeout", "cap", "rlimits", "drop_caps"}``,
``{"op": "realpaths", "paths": [...]}``, ``{"op": "write"|"read", "path", "data"(b64)}``,
``{"op": "sweep"}``, ``{"op": "ping"}``. Replies carry ``"ok"`` and either the result or
``"error"``.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time

if __package__:  # imported from the package (host side, tests)
    from patchloop.sandbox.runner import procs
    from patchloop.sandbox.runner.mounts import lock_down_mounts
    from patchloop.sandbox.runner.output import OutputCap
else:  # booted into a sandbox: BOOT ran each of the runner's modules under its own top-level name
    import runner_procs as procs
    from runner_mounts import lock_down_mounts
    from runner_output import OutputCap

TIMEOUT_EXIT = 124  # same convention as coreutils `timeout`
OOM_FILES = ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events")

# ---------------------------------------------------------------- one command


def _child_setup(rlimits: dict, drop_caps: bool):
    """What a command's child does between fork and exec: its rlimits, default signal
    handling, no capabilities (``drop_caps``) and no_new_privs."""
    procs.libc()  # loaded here, in the runner: the child must not load it (find_library spawns)

    def setup() -> None:
        for name, value in rlimits.items():
            resource.setrlimit(getattr(resource, "RLIMIT_" + name), (value, value))
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        if drop_caps:
            procs.drop_all_capabilities()
        procs.prctl(38, 1)  # PR_SET_NO_NEW_PRIVS: setuid binaries grant nothing

    return setup


def _spawn(cmd: str, cwd: str, env: dict, rlimits: dict | None, drop_caps: bool) -> subprocess.Popen:
    # Without per-command rlimits or capability dropping (Docker sets rlimits on the
    # container) there is no preexec_fn, so Python can vfork: ~1 ms less per command.
    setup = _child_setup(rlimits, drop_caps) if rlimits or drop_caps else None
    # Inherited by the child: the OOM killer picks commands, never the runner. Lowering
    # back needs no privilege. /proc/self is writable only while we are dumpable, which is
    # safe here: the last sweep left no other process that could ptrace us.
    procs.prctl(4, 1)
    procs.set_oom_adj("1000")
    try:
        return subprocess.Popen(["bash", "-c", cmd], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=setup)  # noqa: PLW1509 -- the runner has one thread
    finally:
        procs.set_oom_adj("0")
        procs.prctl(4, 0)


def _pump(proc: subprocess.Popen, caps: dict, deadline: float, wake: procs.Wake) -> tuple[int | None, bool]:
    """Feed output into ``caps`` until the command is over and its pipes are closed; kill the
    process group at ``deadline``; sweep leftovers. Returns (wait status, timed out)."""
    sel = selectors.DefaultSelector()
    for fd in caps:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    sel.register(wake.r, selectors.EVENT_READ)
    status, timed_out, swept = None, False, 0.0
    while (len(sel.get_map()) > 1 or status is None) and not (swept and time.monotonic() > swept + 10):
        now = time.monotonic()
        if now >= deadline and not timed_out:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if (timed_out or status is not None) and not swept:
            # the command is over: kill whatever it left behind so its pipes reach EOF
            status = procs.sweep(wake).get(proc.pid, status)
            swept = time.monotonic()
        for key, _ in sel.select(max(deadline - now, 0.0) if not timed_out else 1.0):
            if key.fd == wake.r:
                wake.drain()
                continue
            try:
                chunk = os.read(key.fd, 1 << 16)
            except BlockingIOError:
                continue
            if chunk:
                caps[key.fd].feed(chunk)
            else:
                sel.unregister(key.fd)
        if status is None:
            status = procs.reap().get(proc.pid)
    if not swept:  # exited and closed its pipes, but may have left a detached daemon behind
        procs.sweep(wake)
    sel.close()
    return status, timed_out


def run_command(cmd: str, *, cwd: str, env: dict, timeout: float, cap: int, rlimits: dict | None = None,
                drop_caps: bool = False, oom_file: str | None = None) -> dict:
    """Run ``bash -c cmd`` in its own session; cap its output; kill the tree past ``timeout``.

    Must run in the server process (it reaps children with ``waitpid(-1)``): both backends
    call it through ``serve``. Returns the fields of ``patchloop.types.ExecResult``.
    """
    oom_before = procs.oom_kills(oom_file)
    start = time.monotonic()
    try:
        proc = _spawn(cmd, cwd, env, rlimits, drop_caps)
    except OSError as e:
        return {"cmd": cmd, "exit_code": 127, "stdout": "", "stderr": f"cannot start command: {e}\n",
                "duration_s": 0.0, "timed_out": False, "oom_killed": False, "truncated": False}
    out, err = OutputCap(cap), OutputCap(cap)
    caps = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    status, timed_out = _pump(proc, caps, start + timeout, procs.sigchld_wake())
    proc.stdout.close()
    proc.stderr.close()
    proc.returncode = 0  # reaped by _pump; keep Popen from waiting again
    if status is None:  # unkillable (should not happen): report it rather than hang
        code = 255
    elif os.WIFSIGNALED(status):
        code = 128 + os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
    return {"cmd": cmd, "exit_code": TIMEOUT_EXIT if timed_out else code, "stdout": out.text(),
            "stderr": err.text(), "duration_s": round(time.monotonic() - start, 6), "timed_out": timed_out,
            "oom_killed": procs.oom_kills(oom_file) > oom_before, "truncated": out.truncated or err.truncated}


# ---------------------------------------------------------------- git state


def restore_git(git_dir: str, tar_bytes: bytes) -> None:
    """Replace everything in ``git_dir`` but the object store with the members of a tar made
    when the sandbox started (config, hooks, info/exclude, refs, index, objects/info).

    Done here, in-process, because a reset would otherwise spawn find, rm and tar for it
    (tens of milliseconds in a container); it runs as the sandbox user, so it can touch
    nothing the sandboxed code could not.
    """
    import io
    import shutil
    import tarfile

    def remove(path: str) -> None:
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
        else:
            shutil.rmtree(path)

    for name in os.listdir(git_dir):
        if name != "objects":
            remove(os.path.join(git_dir, name))
    info = os.path.join(git_dir, "objects", "info")
    if os.path.lexists(info):
        remove(info)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        members = [m for m in tar.getmembers()
                   if not os.path.isabs(m.name) and ".." not in m.name.split("/")]
        tar.extractall(git_dir, members=members)


# ---------------------------------------------------------------- server


def _handle(req: dict, oom_file: str | None, drop_caps: bool) -> dict:
    op = req.get("op")
    if op == "run":
        return run_command(req["cmd"], cwd=req["cwd"], env=req["env"], timeout=float(req["timeout"]),
                           cap=int(req["cap"]), rlimits=req.get("rlimits"), drop_caps=drop_caps,
                           oom_file=oom_file)
    if op == "sweep":
        procs.sweep(procs.sigchld_wake())
        return {}
    if op == "realpaths":
        return {"paths": [os.path.realpath(p) for p in req["paths"]]}
    if op == "write":
        os.makedirs(os.path.dirname(req["path"]) or ".", exist_ok=True)
        with open(req["path"], "wb") as f:
            f.write(base64.b64decode(req["data"]))
        return {}
    if op == "mkdirs":  # parents for a file about to arrive by archive; refuse to replace a file
        os.makedirs(os.path.dirname(req["path"]) or ".", exist_ok=True)
        if os.path.isdir(req["path"]):
            raise IsADirectoryError(f"is a directory: {req['path']}")
        return {}
    if op == "read":
        with open(req["path"], "rb") as f:
            return {"data": base64.b64encode(f.read()).decode()}
    if op == "restore_git":
        restore_git(req["path"], base64.b64decode(req["data"]))
        return {}
    if op == "ping":
        return {}
    raise ValueError(f"unknown op {op!r}")


def serve(argv: list[str], stdin=None) -> None:
    stdin = stdin or sys.stdin.buffer
    args = dict(zip(argv[::2], argv[1::2]))
    info: dict = {"ready": True, "pid": os.getpid(), "uid": os.getuid()}
    flags = set(args.get("--flags", "").split(","))
    if "subreaper" in flags:
        procs.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: detached daemons come back to us to be swept
    procs.prctl(4, 0)  # PR_SET_DUMPABLE=0: commands (same uid) cannot ptrace the runner
    if "--workspace" in args:
        try:
            keep = [p for p in args.get("--keep", "").split(os.pathsep) if p]
            info.update(lock_down_mounts(args["--workspace"], int(args["--tmp-bytes"]), keep))
        except OSError as e:  # asked to lock down and could not: refuse, never serve weaker
            sys.stdout.buffer.write(json.dumps({"ready": False, "error": f"mount lock-down failed: {e}"}).encode() + b"\n")
            sys.stdout.buffer.flush()
            sys.exit(1)
    # In a container the cgroup files at their usual place are the container's own; a local
    # runner names its cgroup's file, or "none" (the host's counters would be about others).
    oom_file = args.get("--oom-file") or next((p for p in OOM_FILES if os.path.exists(p)), None)
    oom_file = None if oom_file == "none" else oom_file
    info["oom_file"] = oom_file
    drop_caps = "drop-caps" in flags
    procs.sigchld_wake()
    out = sys.stdout.buffer
    out.write(json.dumps(info).encode() + b"\n")
    out.flush()
    for line in stdin:
        try:
            req = json.loads(line)
            reply = {"ok": True, **_handle(req, oom_file, drop_caps)}
        except Exception as e:  # noqa: BLE001 -- a bad request must not take the sandbox down
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()
    procs.sweep(procs.sigchld_wake())  # stdin closed: the owner is gone, leave nothing behind


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2:])
    else:
        sys.exit("usage: python -m patchloop.sandbox.runner.server --serve [--workspace DIR --tmp-bytes N] "
                 "[--oom-file F|none] [--flags drop-caps,subreaper]")
