"""The local backend's mount lock-down, done by the command runner (``runner/server.py``) in its
private mount namespace before it serves: fresh size-limited /tmp and /dev/shm, a /dev of
harmless devices only, and every other mount but the workspace read-only.

Containers get all of this from the engine and never ask for it. Any step that fails raises
``HardeningError`` naming it, so the runner refuses to serve rather than run commands in a
sandbox weaker than it says. Standard library only: this module is part of the runner.
"""

from __future__ import annotations

import ctypes
import errno
import os

if __package__:  # imported from the package (host side, tests)
    from patchloop.sandbox.runner.procs import libc
else:  # booted into a sandbox, where the runner's modules are top-level (see server.py)
    from runner_procs import libc

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
_FLAG_NAMES = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    if libc().mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
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
