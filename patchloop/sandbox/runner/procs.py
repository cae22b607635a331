"""Process control for the command runner (``runner/server.py``): the libc calls ``os`` lacks
(``prctl``, dropping capabilities), sweeping every leftover process, reaping children, a
SIGCHLD wake-up that never polls, and the cgroup's OOM-kill counter.

Standard library only: this module is part of the runner, which ships into containers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import selectors
import signal

_LIBC = None


def libc():
    """The C library, loaded once: prctl, capset and mount have no ``os`` function."""
    global _LIBC
    if _LIBC is None:  # loaded in the runner, before any fork: find_library spawns processes
        try:
            _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return _LIBC


def prctl(option: int, arg: int) -> int:
    """prctl(2); returns its result (0 on success), so each caller decides what a failure means."""
    return libc().prctl(option, ctypes.c_ulong(arg), 0, 0, 0)


def drop_all_capabilities() -> None:
    """Make this process (and whatever it execs) hold no capability, even as uid 0.

    Used by the local backend, where commands keep the caller's uid inside their
    namespaces: an empty bounding set, the "noroot" securebits and empty cap sets mean
    exec'ing a program as root grants nothing, so the read-only mounts stay read-only.
    """
    cap = 0
    while prctl(24, cap) == 0:  # PR_CAPBSET_DROP until EINVAL past the last capability
        cap += 1
    prctl(47, 4)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    # SECBIT_NOROOT|_LOCKED, NO_SETUID_FIXUP|_LOCKED, KEEP_CAPS_LOCKED, NO_CAP_AMBIENT_RAISE|_LOCKED
    prctl(28, 0xEF)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    if libc().capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def set_oom_adj(value: str) -> None:
    """Best effort: this process's OOM score adjustment (the runner lends it to each command)."""
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


class Wake:
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


_WAKE: Wake | None = None


def sigchld_wake() -> Wake:
    """The runner's one SIGCHLD self-pipe, made on first use (it installs the signal handler)."""
    global _WAKE
    if _WAKE is None:
        _WAKE = Wake()
    return _WAKE


def oom_kills(path: str | None) -> int:
    """OOM kills counted so far in the cgroup file ``path`` (0 without one): a command was
    OOM-killed when the count grew while it ran."""
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
