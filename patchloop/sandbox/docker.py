"""``DockerSandbox``: one long-lived, locked-down container per workspace.

The container's PID 1 is ``runner/server.py``: a one-line ``python3 -c`` bootstrap (``boot.BOOT``)
reads the runner's modules as the first line of stdin, so nothing is written into the read-only
image. Commands then travel as JSON lines over the container's attached stdin/stdout: a round
trip costs a few milliseconds (mostly ``bash`` starting) instead of the 100+ a ``docker exec``
pays, and every command stays inside the container's cgroup and pids limit.

The workspace is a tmpfs volume (``limits.workspace_bytes``) owned by uid 1000: the engine
sees it, so files move in and out with ``put_archive``/``get_archive``; being RAM, what is
written there counts towards the container's memory. ``/tmp`` is a tmpfs of ``tmp_bytes``.

Protects against (tests/sandbox/test_hostile.py): fork bombs (pids limit), memory hogs
(memory limit = memory+swap limit; reported through the cgroup's OOM-kill counter),
runaway loops and SIGTERM-ignoring processes (process-group SIGKILL at the timeout),
daemons (every process but the runner is killed after each command), output floods
(head+tail capping in the runner), writes outside the workspace (read-only root, non-root
uid 1000, no capabilities, ``no-new-privileges``), network use (``network_mode=none``).
Does not protect against kernel exploits (a container shares the host kernel; use gVisor
or a VM runtime for that), disk use inside the size-limited workspace and /tmp, or a
command corrupting its own sandbox's workspace.

Containers and their workspace volumes carry ``patchloop=1`` plus the owner's host, pid and
process start time; ``gc()`` removes those whose owner is gone (or all of them).
"""

from __future__ import annotations

import io
import logging
import os
import re
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

from patchloop.sandbox.base import SandboxError, SandboxLimits
from patchloop.sandbox.boot import BOOT, runner_bundle
from patchloop.sandbox.client import RunnerSandbox, owner_gone, owner_labels
from patchloop.sandbox.engine import docker_client, require_docker_client, sdk

log = logging.getLogger(__name__)
UID = 1000
PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_GC_DONE = False
RUNNER_WRITE_MAX = 256 * 1024  # bytes: larger workspace files travel as archives


def _client(client: Any = None) -> Any:
    return require_docker_client(client, who="docker", timeout=60)


def gc(all: bool = False, client: Any = None) -> list[str]:
    """Remove sandboxes whose owner process is gone (or all of them): labelled containers and
    volumes, and the local backend's temp dirs and cgroups. Without an engine, only the latter."""
    from patchloop.sandbox.local import gc_local

    docker = sdk()

    removed = gc_local(all)
    if client is None:
        client = docker_client()
        if client is None:
            return removed
    # sparse: no inspect per container, so one that another process removes between the
    # listing and the inspect cannot fail the listing with a 404 (seen with two batches at once)
    for c in client.containers.list(all=True, sparse=True, filters={"label": "patchloop=1"}):
        if all or owner_gone(c.attrs.get("Labels") or {}):
            name = (c.attrs.get("Names") or [c.id])[0].lstrip("/")
            try:
                c.remove(force=True)
                removed.append(name)
            except docker.errors.NotFound:
                pass  # its owner or another gc removed it first
            except docker.errors.APIError as e:  # already going away: report, go on
                log.warning("gc: cannot remove container %s: %s", name, e)
    for v in client.volumes.list(filters={"label": "patchloop=1"}):
        if all or owner_gone(v.attrs.get("Labels") or {}):
            try:
                v.remove(force=True)
                removed.append(v.name)
            except docker.errors.APIError as e:  # still in use by a container being removed
                log.warning("gc: cannot remove volume %s: %s", v.name, e)
    return removed


def _tar_tree(root: Path) -> io.BufferedRandom:
    """A tar of ``root``'s contents (``.git`` included, symlinks kept) owned by the sandbox user."""
    import tempfile

    def own(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = UID
        info.uname = info.gname = ""
        return info

    buf = tempfile.TemporaryFile()  # noqa: SIM115 -- returned to the caller, who closes it
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for child in sorted(root.iterdir()):
            tar.add(child, arcname=child.name, filter=own)
    buf.seek(0)
    return buf


class DockerSandbox(RunnerSandbox):
    """A workspace in a hardened container (see module doc). Use as a context manager."""

    backend = "docker"

    def __init__(self, image: str | None = None, *, repo: str | os.PathLike | None = None,
                 limits: SandboxLimits | None = None, task_id: str = "", client: Any = None,
                 labels: dict[str, str] | None = None):
        super().__init__(limits, task_id)
        self.client = _client(client)
        global _GC_DONE
        if not _GC_DONE:  # long runs: reap what crashed owners left, once per process
            _GC_DONE = True
            gc(client=self.client)
        # Set before anything can fail, so close() of a half-built sandbox has nothing to trip on.
        self.container = self.volume = self._sock = self._sockio = None
        if image is None:
            from patchloop.sandbox.images import ensure_base_image

            image = ensure_base_image(self.client)
        self.image = image
        self._raw = bytearray()
        self._out = bytearray()
        self._err = bytearray()
        try:
            t0 = time.monotonic()
            self._create(labels or {})
            self.ready_info = self.wait_ready(60)
            self.create_s = time.monotonic() - t0
            if repo is not None:
                self._copy_in(Path(repo))
            self.init_base()
        except BaseException:
            self.close()
            raise

    def _create(self, extra_labels: dict[str, str]) -> None:
        lim = self.limits
        slug = re.sub(r"[^a-zA-Z0-9_.-]", "-", self.task_id)[:40].strip("-.") or "sandbox"
        name = f"patchloop-{slug}-{uuid.uuid4().hex[:8]}"
        labels = {**owner_labels(), "patchloop.task": self.task_id[:200], **extra_labels}
        self.volume = self.client.volumes.create(
            name=name, driver="local", labels=labels,
            driver_opts={"type": "tmpfs", "device": "tmpfs",
                         "o": f"size={lim.workspace_bytes},uid={UID},gid={UID},mode=0755"})
        Mount, Ulimit = sdk().types.Mount, sdk().types.Ulimit

        self.container = self.client.containers.create(
            self.image, command=["python3", "-c", BOOT, "--serve"], name=name,
            user=f"{UID}:{UID}", working_dir=self.workdir, stdin_open=True, tty=False, labels=labels,
            network_mode="bridge" if lim.network else "none", cap_drop=["ALL"],
            security_opt=["no-new-privileges"], pids_limit=lim.pids, mem_limit=lim.memory_bytes,
            memswap_limit=lim.memory_bytes, nano_cpus=int(lim.cpus * 1e9), read_only=True,
            tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={lim.tmp_bytes},mode=1777"},
            mounts=[Mount(self.workdir, name, type="volume")], environment={"HOME": "/tmp"},
            ulimits=[Ulimit(name="nofile", soft=lim.open_files, hard=lim.open_files),
                     Ulimit(name="fsize", soft=lim.file_bytes, hard=lim.file_bytes),
                     Ulimit(name="core", soft=0, hard=0)], detach=True)
        sock = self.client.api.attach_socket(self.container.id, params={
            "stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self._sockio = sock  # keeps the HTTP response (and so the hijacked connection) alive
        self._sock = getattr(sock, "_sock", sock)
        self.container.start()
        self._send(runner_bundle())  # BOOT reads it as its first line

    # ---- transport: docker's multiplexed attach stream (8-byte frame headers)
    def _send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def _recv_line(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            nl = self._out.find(b"\n")
            if nl >= 0:
                line = bytes(self._out[: nl + 1])
                del self._out[: nl + 1]
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxError(self.task_id, f"runner silent for {timeout:.0f}s")
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not chunk:
                raise SandboxError(self.task_id, self._death_note())
            self._raw += chunk
            while len(self._raw) >= 8:
                size = int.from_bytes(self._raw[4:8], "big")
                if len(self._raw) < 8 + size:
                    break
                (self._out if self._raw[0] == 1 else self._err).extend(self._raw[8 : 8 + size])
                del self._raw[: 8 + size]
            del self._err[:-4096]

    def _death_note(self) -> str:
        try:
            self.container.reload()
            state = self.container.attrs["State"]
            return (f"container stopped (exit {state.get('ExitCode')}, OOMKilled={state.get('OOMKilled')}): "
                    f"{self._err.decode('utf-8', 'replace')[-1000:]}")
        except Exception as e:  # noqa: BLE001 -- explaining a death must not raise another error
            return f"container gone: {e}"

    def _rlimits(self, timeout: float) -> dict[str, int]:
        return {}  # set on the container (inherited from PID 1), so commands start without preexec

    def _base_env(self) -> dict[str, str]:
        return {"PATH": PATH, "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "USER": "sandbox"}

    # ---- files: archives for the workspace (a volume the engine can see), the runner for /tmp
    def _in_workspace(self, path: str) -> bool:
        return path == self.workdir or path.startswith(self.workdir + "/")

    def _put(self, path: str, data: bytes) -> None:
        path = os.path.normpath(path)
        # Small files go over the runner's open channel (under 1 ms against ~50 ms for the
        # engine's archive API), written as the sandbox user, so they can reach nothing the
        # sandboxed code itself cannot; large ones go as archives (no base64 line of megabytes).
        if not self._in_workspace(path) or len(data) <= RUNNER_WRITE_MAX:
            self.write_via_runner(path, data)
            return
        # Parents made by the runner (as the sandbox user): a tar with directory entries would
        # silently replace a regular file standing where a directory is wanted.
        self.request({"op": "mkdirs", "path": path})
        buf = io.BytesIO()
        rel = os.path.relpath(path, self.workdir)
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o644, UID, UID, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        docker = sdk()

        try:
            ok = self.container.put_archive(self.workdir, buf.getvalue())
        except docker.errors.NotFound:
            raise SandboxError(self.task_id, "container is gone") from None
        except docker.errors.APIError as e:  # e.g. a parent is a regular file: the caller's mistake
            raise OSError(f"cannot write {path}: {e.explanation or e}") from None
        if not ok:
            raise OSError(f"cannot write {path}")

    def _get(self, path: str) -> bytes:
        docker = sdk()

        real = self.realpaths([os.path.normpath(path)])[0]
        if not self._in_workspace(real):
            return self.read_via_runner(real)
        try:
            stream, _ = self.container.get_archive(real)
        except docker.errors.NotFound:
            raise FileNotFoundError(f"no such file in the sandbox: {path}") from None
        except docker.errors.APIError as e:
            raise OSError(f"cannot read {path}: {e.explanation or e}") from None
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise IsADirectoryError(f"not a regular file: {path}")
            return tar.extractfile(member).read()

    def _copy_in(self, repo: Path) -> None:
        if not repo.is_dir():
            raise SandboxError(self.task_id, f"repo is not a directory: {repo}")
        with _tar_tree(repo) as tar:
            if not self.container.put_archive(self.workdir, tar):
                raise SandboxError(self.task_id, f"cannot copy {repo} into the sandbox")

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        for thing in (self.container, self.volume):
            if thing is None:
                continue
            try:
                thing.remove(force=True)
            except Exception as e:  # noqa: BLE001 -- already gone is fine; anything else gc() catches
                if "No such" not in str(e) and "404" not in str(e):
                    log.warning("sandbox %s: cannot remove %s: %s", self.task_id, getattr(thing, "name", thing), e)
