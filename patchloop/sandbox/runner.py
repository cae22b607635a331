#!/usr/bin/env python3
"""patchloop's command runner: the one place where a sandbox command is started, capped and killed.

Standard library only: this file is shipped verbatim into containers (``python3 -c SOURCE``)
and started as the local backend's server, so both backends run commands with the very
same ``run_command``.

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
import ctypes
import ctypes.util
import errno
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time

ELIDED = "\n[... {n} bytes elided by patchloop ...]\n"
TIMEOUT_EXIT = 124  # same convention as coreutils `timeout`
OOM_FILES = ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events")


class OutputCap:
    """Keeps the first and last ``limit/2`` bytes of a stream of any length.

    Gigabytes of output cost O(limit) memory; ``text()`` marks the cut so neither a model
    nor a user mistakes a capped log for a complete one.
    """

    def __init__(self, limit: int):
        self.limit = max(limit, 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        half = self.limit // 2
        room = half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        if len(self.tail) > self.limit - half:
            cut = len(self.tail) - (self.limit - half)
            self.dropped += cut
            del self.tail[:cut]

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if not self.dropped:
            return head + tail
        return head + ELIDED.format(n=self.dropped) + tail


# ---------------------------------------------------------------- process control

_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:  # loaded in the runner, before any fork: find_library spawns processes
        try:
            _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return _LIBC


def _prctl(option: int, arg: int) -> int:
    return _libc().prctl(option, ctypes.c_ulong(arg), 0, 0, 0)


def drop_all_capabilities() -> None:
    """Make this process (and whatever it execs) hold no capability, even as uid 0.

    Used by the local backend, where commands keep the caller's uid inside their
    namespaces: an empty bounding set, the "noroot" securebits and empty cap sets mean
    exec'ing a program as root grants nothing, so the read-only mounts stay read-only.
    """
    cap = 0
    while _prctl(24, cap) == 0:  # PR_CAPBSET_DROP until EINVAL past the last capability
        cap += 1
    _prctl(47, 4)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    # SECBIT_NOROOT|_LOCKED, NO_SETUID_FIXUP|_LOCKED, KEEP_CAPS_LOCKED, NO_CAP_AMBIENT_RAISE|_LOCKED
    _prctl(28, 0xEF)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    if _libc().capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _child_setup(rlimits: dict, drop_caps: bool):
    _libc()

    def setup() -> None:
        for name, value in rlimits.items():
            resource.setrlimit(getattr(resource, "RLIMIT_" + name), (value, value))
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        if drop_caps:
            drop_all_capabilities()
        _prctl(38, 1)  # PR_SET_NO_NEW_PRIVS: setuid binaries grant nothing

    return setup


def _set_oom_adj(value: str) -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(value)
    except OSError:
        pass


def _alive_others() -> list[int]:
    """Processes to sweep: everything but us when we are a namespace's init, else our descendants."""
    me = os.getpid()
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] != b"Z":
            parents[int(name)] = int(fields[1])
    if me == 1:
        return list(parents)
    out, frontier = [], {me}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier}
        out.extend(frontier)
    return out


def reap() -> dict[int, int]:
    """Collect every exited child (we are init, or a subreaper); returns pid -> wait status."""
    done = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done[pid] = status


def sweep(wake=None) -> dict[int, int]:
    """SIGKILL every process but the runner and wait until none is left; returns reaped statuses."""
    reaped: dict[int, int] = {}
    for attempt in range(1000):
        others = _alive_others()
        if not others:
            break
        if os.getpid() == 1:
            try:
                os.kill(-1, signal.SIGKILL)  # as init: everything in the namespace but us
            except ProcessLookupError:
                pass
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reaped.update(reap())
        if attempt and wake is not None:
            wake.wait(0.005 * min(attempt, 20))
    reaped.update(reap())
    return reaped


class _Wake:
    """A SIGCHLD self-pipe, so waiting for a child never polls."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.w, warn_on_full_buffer=False)

    def drain(self) -> None:
        try:
            while os.read(self.r, 4096):
                pass
        except BlockingIOError:
            pass

    def wait(self, seconds: float) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.r, selectors.EVENT_READ)
        sel.select(seconds)
        sel.close()
        self.drain()


_WAKE: _Wake | None = None


def _wake() -> _Wake:
    global _WAKE
    if _WAKE is None:
        _WAKE = _Wake()
    return _WAKE


def _oom_kills(path: str | None) -> int:
    if not path:
        return 0
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except OSError:
        pass
    return 0


def _spawn(cmd: str, cwd: str, env: dict, rlimits: dict | None, drop_caps: bool) -> subprocess.Popen:
    # Without per-command rlimits or capability dropping (Docker sets rlimits on the
    # container) there is no preexec_fn, so Python can vfork: ~1 ms less per command.
    setup = _child_setup(rlimits, drop_caps) if rlimits or drop_caps else None
    # Inherited by the child: the OOM killer picks commands, never the runner. Lowering
    # back needs no privilege. /proc/self is writable only while we are dumpable, which is
    # safe here: the last sweep left no other process that could ptrace us.
    _prctl(4, 1)
    _set_oom_adj("1000")
    try:
        return subprocess.Popen(["bash", "-c", cmd], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=setup)  # noqa: PLW1509 -- the runner has one thread
    finally:
        _set_oom_adj("0")
        _prctl(4, 0)


def _pump(proc: subprocess.Popen, caps: dict, deadline: float, wake: _Wake) -> tuple[int | None, bool]:
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
            status = sweep(wake).get(proc.pid, status)
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
            status = reap().get(proc.pid)
    if not swept:  # exited and closed its pipes, but may have left a detached daemon behind
        sweep(wake)
    sel.close()
    return status, timed_out


def run_command(cmd: str, *, cwd: str, env: dict, timeout: float, cap: int, rlimits: dict | None = None,
                drop_caps: bool = False, oom_file: str | None = None) -> dict:
    """Run ``bash -c cmd`` in its own session; cap its output; kill the tree past ``timeout``.

    Must run in the server process (it reaps children with ``waitpid(-1)``): both backends
    call it through ``serve``. Returns the fields of ``patchloop.types.ExecResult``.
    """
    oom_before = _oom_kills(oom_file)
    start = time.monotonic()
    try:
        proc = _spawn(cmd, cwd, env, rlimits, drop_caps)
    except OSError as e:
        return {"cmd": cmd, "exit_code": 127, "stdout": "", "stderr": f"cannot start command: {e}\n",
                "duration_s": 0.0, "timed_out": False, "oom_killed": False, "truncated": False}
    out, err = OutputCap(cap), OutputCap(cap)
    status, timed_out = _pump(proc, {proc.stdout.fileno(): out, proc.stderr.fileno(): err}, start + timeout, _wake())
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
            "oom_killed": _oom_kills(oom_file) > oom_before, "truncated": out.truncated or err.truncated}


# ---------------------------------------------------------------- local namespace setup

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
_FLAG_NAMES = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    if _libc().mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


SAFE_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def _minimal_dev() -> None:
    """Replace /dev with a tmpfs holding only harmless devices, as container engines do.

    Capability-less root still passes permission checks as the owner of /dev/sda, /dev/kvm
    or /dev/loop*, and a read-only mount does not stop writes to device nodes. The kept
    nodes are bind-mounted from O_PATH handles opened before the host's /dev is covered.
    """
    handles = {n: os.open(f"/dev/{n}", os.O_PATH) for n in SAFE_DEVICES if os.path.exists(f"/dev/{n}")}
    try:
        _mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=1m,mode=755")
        for name, fd in handles.items():
            open(f"/dev/{name}", "w").close()  # a mount point for the bind
            _mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, MS_BIND, None)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            os.symlink(target, f"/dev/{name}")
        os.mkdir("/dev/shm")
    except OSError as e:
        raise HardeningError(f"minimal /dev: {e}") from None
    finally:
        for fd in handles.values():
            os.close(fd)


class HardeningError(OSError):
    """A step of the mount lock-down failed: the runner refuses to serve rather than run
    commands in a sandbox that is weaker than it says."""


def lock_down_mounts(workspace: str, tmp_bytes: int, keep_under_tmp: list[str] = ()) -> dict:
    """In a private mount namespace: fresh size-limited /tmp and /dev/shm, and every other
    mount read-only except the workspace. Returns what took effect; any step that fails raises
    ``HardeningError`` naming it (only a mount hidden under another, no longer reachable by
    any path, is left as it is).

    ``keep_under_tmp``: host directories under /tmp that commands still need (the Python
    environment running patchloop, when a checkout lives in /tmp); each is parked on a bind
    mount beside the workspace before the fresh /tmp hides it, then put back read-only.
    """
    done = {"tmpfs": False, "readonly_root": False}
    _mount(None, "/", None, MS_REC | 0x40000, None)  # MS_PRIVATE: nothing leaks to the host
    _mount(workspace, workspace, None, MS_BIND | MS_REC, None)
    parked = []
    for i, path in enumerate(p for p in keep_under_tmp if os.path.isdir(p)):
        stage = os.path.join(os.path.dirname(workspace), f"keep{i}")
        os.makedirs(stage, exist_ok=True)
        _mount(path, stage, None, MS_BIND | MS_REC, None)
        parked.append((stage, path))
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode=1777")
    done["tmpfs"] = True
    for stage, path in parked:
        os.makedirs(path, exist_ok=True)
        _mount(stage, path, None, MS_BIND | MS_REC, None)
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    done["kept_under_tmp"] = [p for _, p in parked]
    _minimal_dev()
    done["minimal_dev"] = True
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode=1777")
    done["readonly_root"] = _remount_read_only(workspace)
    for knob in ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"):
        if os.path.exists(knob):  # /proc/irq and /proc/bus are missing on some kernels
            _mount(knob, knob, None, MS_BIND, None)
            _mount(None, knob, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    return done


def _remount_read_only(workspace: str) -> bool:
    """Every mount but the workspace, /tmp, /dev/shm and /proc read-only (raises if one is not)."""
    # /proc stays writable (oom_score_adj); its kernel knobs are made read-only by the caller
    keep = {os.path.realpath(workspace), "/tmp", "/dev/shm", "/proc"}
    failed: list[str] = []
    with open("/proc/self/mountinfo") as f:
        mounts = [(line.split()[4].replace("\\040", " "), line.split()[5]) for line in f]
    for target, opts in mounts:
        if target in keep or any(target.startswith(k + "/") for k in keep if k != "/"):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for opt in opts.split(","):
            flags |= _FLAG_NAMES.get(opt, 0)  # locked flags must be kept in a user namespace
        try:
            _mount(None, target, None, flags, None)
        except OSError as e:
            if e.errno == errno.ENOENT and not os.path.lexists(target):
                continue  # under a mount laid over it since (the old /dev/pts under the new /dev)
            failed.append(str(e))
    if failed:
        raise HardeningError("could not make read-only: " + "; ".join(failed[:5]))
    return True


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
        sweep(_wake())
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
        _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: detached daemons come back to us to be swept
    _prctl(4, 0)  # PR_SET_DUMPABLE=0: commands (same uid) cannot ptrace the runner
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
    _wake()
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
    sweep(_wake())  # stdin closed: the owner is gone, leave nothing behind


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2:])
    else:
        sys.exit("usage: runner.py --serve [--workspace DIR --tmp-bytes N] [--oom-file F|none] "
                 "[--flags drop-caps,subreaper]")
