"""``LocalSandbox``: a temp-dir workspace for machines with no container engine. WEAKER isolation.

The same ``runner/server.py`` as in containers runs the commands (same capping, timeouts, sweep,
``ExecResult``), started where possible inside fresh namespaces with
``unshare --net --pid --mount`` (plus ``--user --map-root-user`` when not root), detected
once per process. Then:

- the runner is PID 1 of its own PID namespace, so the sweep after each command kills every
  leftover process, daemons included; the network namespace holds only ``lo``;
- ``/tmp`` and ``/dev/shm`` are fresh size-limited tmpfs, ``/dev`` holds only null, zero,
  full, random, urandom and tty, and every other mount except the workspace is remounted
  read-only (``/proc/sys`` too); commands run with no capabilities and ``no_new_privs``,
  so they cannot undo that; the workspace lives under ``/var/tmp``, not the hidden ``/tmp``;
  a step of that lock-down that fails stops the sandbox from starting (``SandboxError``
  naming it): it never runs commands weaker than this says;
- each command gets rlimits: CPU time (from the timeout), address space, processes,
  file size, open files; as root, where cgroups are writable, a pids and a memory cgroup
  per sandbox replace the per-user RLIMIT_NPROC (root ignores it) and report OOM kills.

What it does NOT protect against, unlike ``DockerSandbox``: commands run with your uid
(or as capability-less root), so they can READ anything you can (your home, your keys);
RLIMIT_NPROC counts all your processes, not only the sandbox's, outside a user namespace;
without ``unshare`` (macOS, locked-down kernels) there is no network, mount or PID
isolation at all: daemons are still swept (the runner is a child subreaper) but
commands can write anywhere you can (as root without capabilities: every root-owned
file). Without a memory cgroup a memory hog meets RLIMIT_AS (``MemoryError``), which is
not reported as ``oom_killed``. Use Docker for untrusted code whenever you can.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from patchloop.sandbox.base import SandboxError, SandboxLimits
from patchloop.sandbox.boot import BOOT, runner_bundle
from patchloop.sandbox.client import RunnerSandbox, owner_gone, owner_labels

log = logging.getLogger(__name__)
NS_FLAGS = ["--net", "--pid", "--mount", "--fork", "--mount-proc", "--kill-child"]
WEAKER = ("LocalSandbox is weaker isolation than DockerSandbox: commands can read what your user "
          "can read, and limits are rlimits; use the docker backend for untrusted code.")


@functools.cache
def _warn_once() -> None:
    log.warning(WEAKER)


@functools.cache
def unshare_prefix() -> tuple[str, ...]:
    """The ``unshare`` command line that works here (root needs no user namespace), or ()."""
    exe = shutil.which("unshare")
    if not exe or not sys.platform.startswith("linux"):
        return ()
    prefix = [exe] + (["--user", "--map-root-user"] if os.geteuid() != 0 else []) + NS_FLAGS
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return tuple(prefix) if ok else ()


def _cgroup_dirs(name: str, limits: SandboxLimits) -> tuple[list[Path], str | None]:
    """Per-sandbox pids and memory cgroups (v1 or v2) where we may create them; oom counter file."""
    made: list[Path] = []
    oom = None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return made, oom
    own = {ctrl: path for _, ctrls, path in (ln.split(":", 2) for ln in lines) for ctrl in ctrls.split(",")}
    root = Path("/sys/fs/cgroup")
    wanted = []
    if (root / "pids").is_dir() and "pids" in own:  # cgroup v1
        wanted.append((root / "pids" / own["pids"].lstrip("/") / name, {"pids.max": limits.pids}))
    if (root / "memory").is_dir() and "memory" in own:
        wanted.append((root / "memory" / own["memory"].lstrip("/") / name, {
            "memory.limit_in_bytes": limits.memory_bytes, "memory.memsw.limit_in_bytes": limits.memory_bytes}))
    if not wanted and "" in own and (root / "cgroup.controllers").exists():  # cgroup v2
        wanted.append((root / own[""].lstrip("/") / name, {
            "pids.max": limits.pids, "memory.max": limits.memory_bytes, "memory.swap.max": 0}))
    for path, settings in wanted:
        try:
            path.mkdir()
        except OSError:
            continue
        made.append(path)
        for key, value in settings.items():
            try:
                (path / key).write_text(str(value))
            except OSError:
                pass  # e.g. no swap accounting: the memory limit alone still holds
        for f in ("memory.oom_control", "memory.events"):
            if (path / f).exists():
                oom = str(path / f)
    return made, oom


def _python_dirs_under_tmp() -> list[str]:
    """Directories of the running Python environment that the sandbox's fresh /tmp would hide
    (a checkout and its .venv under /tmp, as CI may make): they stay visible, read-only, so
    ``python`` on the sandbox's PATH still starts and finds its packages."""
    dirs = {os.path.realpath(p) for p in (sys.prefix, os.path.dirname(sys.executable), *sys.path) if p}
    under = sorted(d for d in dirs if d.startswith("/tmp/") and os.path.isdir(d))
    # a directory inside another kept one comes along with it
    return [d for d in under if not any(d.startswith(o + "/") for o in under if o != d)]


class LocalSandbox(RunnerSandbox):
    """A workspace in a temp dir with namespaces and rlimits where available (see module doc)."""

    backend = "local"

    def __init__(self, *, repo: str | os.PathLike | None = None, limits: SandboxLimits | None = None,
                 task_id: str = "", namespaces: bool = True, cgroups: bool = True):
        """``namespaces=False`` / ``cgroups=False`` skip ``unshare`` / cgroups even where they
        work: the fallbacks machines without them get (tests check those fallbacks here)."""
        super().__init__(limits, task_id)
        _warn_once()
        # limits.network keeps the host's network; every other namespace stays
        self.prefix = tuple(f for f in (unshare_prefix() if namespaces else ())
                            if not (f == "--net" and self.limits.network))
        self.root = Path(tempfile.mkdtemp(prefix="patchloop-", dir="/var/tmp" if self.prefix else None))
        self.workdir = str(self.root / "workspace")
        self.tmpdir = "/tmp" if self.prefix else str(self.root / "tmp")
        self.cgroups: list[Path] = []
        self.proc: subprocess.Popen | None = None
        self._buf = bytearray()  # reply bytes read from the runner, not yet a whole line
        self._want_cgroups = cgroups
        try:
            self._start(repo)
            self.init_base()
        except BaseException:
            self.close()
            raise

    def _start(self, repo: str | os.PathLike | None) -> None:
        if repo is not None:
            if not Path(repo).is_dir():
                raise SandboxError(self.task_id, f"repo is not a directory: {repo}")
            shutil.copytree(repo, self.workdir, symlinks=True)
        else:
            os.mkdir(self.workdir)
        os.makedirs(self.root / "tmp", exist_ok=True)
        oom = None
        if self._want_cgroups and os.geteuid() == 0:  # root ignores RLIMIT_NPROC: cgroups when we may
            self.cgroups, oom = _cgroup_dirs(f"patchloop-{os.getpid()}-{uuid.uuid4().hex[:8]}", self.limits)
        # what gc() needs to tell a crashed owner's leftovers from a live sandbox
        owner = {**owner_labels(), "cgroups": [str(c) for c in self.cgroups]}
        (self.root / "owner.json").write_text(json.dumps(owner))
        flags = "drop-caps" + ("" if self.prefix else ",subreaper")
        argv = [sys.executable, "-I", "-c", BOOT, "--serve", "--flags", flags, "--oom-file", oom or "none"]
        if self.prefix:
            argv = [*self.prefix, *argv, "--workspace", self.workdir, "--tmp-bytes", str(self.limits.tmp_bytes),
                    "--keep", os.pathsep.join(_python_dirs_under_tmp())]
        if self.cgroups:  # join the cgroups first, so every descendant is born inside them
            joins = " ".join(f'echo $$ > "{c}/cgroup.procs" &&' for c in self.cgroups)
            argv = ["sh", "-c", f'{joins} exec "$@"', "sh", *argv]
        self._log = open(self.root / "runner.log", "wb")  # noqa: SIM115 -- closed in _shutdown
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, bufsize=0,
                                     cwd=self.workdir, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        try:
            self._send(runner_bundle())  # BOOT reads it as its first line
        except OSError:
            pass  # it died before reading it: wait_ready reports why, from its log
        self.ready_info = self.wait_ready(60)
        self.ready_info["cgroups"] = [str(c) for c in self.cgroups]
        self.ready_info["namespaces"] = bool(self.prefix)

    # ---- transport: the runner's stdin/stdout pipes
    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # an unbuffered pipe may take a large request in several writes
            view = view[self.proc.stdin.write(view):]

    def _recv_line(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while (nl := self._buf.find(b"\n")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise SandboxError(self.task_id, f"runner silent for {timeout:.0f}s", str(self.root / "runner.log"))
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise SandboxError(self.task_id, f"runner exited: {self._tail_log()}", str(self.root / "runner.log"))
            self._buf += chunk
        line = bytes(self._buf[: nl + 1])
        del self._buf[: nl + 1]
        return line

    def _tail_log(self) -> str:
        try:
            return (self.root / "runner.log").read_text(errors="replace")[-1000:]
        except OSError:
            return ""

    def _base_env(self) -> dict[str, str]:
        path = os.path.dirname(sys.executable) + ":" + os.environ.get("PATH", "/usr/bin:/bin")
        return {"PATH": path, "HOME": self.tmpdir, "TMPDIR": self.tmpdir, "LANG": "C.UTF-8"}

    def _rlimits(self, timeout: float) -> dict[str, int]:
        mem = self.limits.memory_bytes
        # With a memory cgroup, the cgroup limit (and its OOM report) is the real bound; the
        # address-space limit stays loose because virtual size overshoots resident size.
        space = max(2 * mem, mem + 2**30) if any("memory" in str(c) for c in self.cgroups) else mem
        limits = {**super()._rlimits(timeout), "CPU": math.ceil(timeout) + 1, "AS": space}
        if os.geteuid() != 0:
            # Outside a user namespace the count is per user: leave room for the user's own processes.
            limits["NPROC"] = self.limits.pids + (0 if self.prefix else _user_processes())
        return limits

    # ---- files go through the runner (it sees the sandbox's /tmp), only inside the sandbox
    def _check_inside(self, path: str) -> str:
        real = self.realpaths([path])[0]
        roots = [self.realpaths([self.workdir])[0], self.tmpdir]
        if not any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots):
            raise PermissionError(f"{path} resolves to {real}, outside the sandbox workspace and {self.tmpdir}")
        return real

    def _put(self, path: str, data: bytes) -> None:
        # realpath resolves a final symlink too, so a link to /etc cannot be written through
        self.write_via_runner(self._check_inside(os.path.normpath(path)), data)

    def _get(self, path: str) -> bytes:
        return self.read_via_runner(self._check_inside(os.path.normpath(path)))

    def _shutdown(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()  # the runner sweeps and exits on EOF
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()  # --kill-child takes the namespace's processes with it
                self.proc.wait()
            self.proc.stdout.close()
            self._log.close()
        for cg in self.cgroups:
            _remove_cgroup(cg, self.task_id)
        shutil.rmtree(self.root, ignore_errors=True)


def _remove_cgroup(cg: Path, task_id: str) -> None:
    """Kill what is still in the cgroup (a runner killed by --kill-child may still be exiting),
    then remove it; an exiting process can keep it busy for a few milliseconds."""
    deadline = time.monotonic() + 5
    while True:
        try:
            pids = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
        except OSError:
            return  # already gone
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            cg.rmdir()
            return
        except OSError as e:
            if time.monotonic() > deadline:
                log.warning("sandbox %s: cannot remove cgroup %s: %s", task_id, cg, e)
                return
            time.sleep(0.01)  # bounded wait for the kernel to finish the exits


def _user_processes() -> int:
    uid = os.getuid()
    return sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid)


def _owner(p: Path) -> int:
    try:
        return p.stat().st_uid
    except OSError:
        return -1


def gc_local(all: bool = False) -> list[str]:
    """Remove local sandbox dirs (and cgroups) whose owner process is gone, or all of them."""
    removed = []
    for base in {"/var/tmp", tempfile.gettempdir()}:
        for root in Path(base).glob("patchloop-*"):
            try:
                owner = json.loads((root / "owner.json").read_text())
            except (OSError, ValueError):
                continue  # not a sandbox of ours (or still being created)
            if not (all or owner_gone(owner)):
                continue
            for cg in owner.get("cgroups", []):
                try:
                    Path(cg).rmdir()
                except OSError:
                    pass
            shutil.rmtree(root, ignore_errors=True)
            removed.append(str(root))
    # cgroups named patchloop-<owner pid>-* whose owner is gone (e.g. its temp dir went first)
    for cg in Path("/sys/fs/cgroup").glob("**/patchloop-*-*") if os.geteuid() == 0 else ():
        pid = cg.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            try:
                cg.rmdir()  # only ever succeeds on an empty cgroup
                removed.append(str(cg))
            except OSError:
                pass
    return removed
