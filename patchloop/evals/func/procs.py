"""Process hygiene for the grader server (``func_server``): its ``prctl`` defences, killing and
reaping a sample's whole process tree, and the fresh uid a candidate may run as.

Standard library only, and imported by ``func_server`` before any candidate runs: this file is
copied into sandboxes with the rest of the server, and a trusted-side import that happened
later could be served a module a candidate planted.
"""

from __future__ import annotations

import os
import signal

PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 4, 36, 38


def prctl(option, arg, what) -> None:
    """prctl(2), raising ``OSError`` naming ``what`` when it fails: each call is a defence, and
    a grader that silently went without one would hand out verdicts it cannot vouch for."""
    import ctypes  # pre-imported by the server (PRELOAD) before any candidate runs

    if ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({what}) failed: {os.strerror(err)}")


def _children(pid):
    """Direct children of ``pid`` (a /proc scan; subreapers make orphans our children)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
                if int(stat[stat.rindex(b")") + 2:].split()[1]) == pid:
                    out.append(int(name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def kill_and_reap(pid: int, group: bool = False) -> None:
    """SIGKILL a child (its whole process group with ``group``) and reap it, whether or not
    it is still there: another path (the proxy) may have reaped it already."""
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def has_children() -> bool:
    """Cheap: any child left (alive or zombie)? Subreaper orphans count as our children."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return False
    return True


def kill_descendants(uid=None) -> None:
    """Kill and reap every descendant of this process, including re-parented orphans."""
    if uid is not None:
        helper = os.fork()
        if helper == 0:  # kill(-1) as the candidate's own uid reaches exactly its processes
            try:
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(helper, 0)
    for _ in range(1000):
        kids = _children(os.getpid())
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in kids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def fresh_uid():
    return 0x40000000 + int.from_bytes(os.urandom(3), "big")


def can_switch_uid() -> bool:
    """True when we may give each candidate its own uid: effective CAP_CHOWN, CAP_SETGID and
    CAP_SETUID (sandboxes usually run without them, even as uid 0)."""
    try:
        with open("/proc/self/status") as fh:
            caps = next((int(line.split()[1], 16) for line in fh if line.startswith("CapEff:")), 0)
        return caps & 0xC1 == 0xC1 and _stdlib_world_readable()
    except (OSError, ValueError):
        return False


def _stdlib_world_readable() -> bool:
    """A fresh uid must still be able to import the standard library (an interpreter under
    a private home directory would make every non-preloaded import fail)."""
    path = os.path.dirname(os.__file__)
    if not os.stat(path).st_mode & 0o004:
        return False
    while path not in ("/", ""):
        if not os.stat(path).st_mode & 0o001:
            return False
        path = os.path.dirname(path)
    return True
