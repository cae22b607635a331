"""Helpers for the sandbox backend tests: open a sandbox of either backend, and check the
host is left clean (no labelled container, no process carrying a marker)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from patchloop.sandbox import DockerSandbox, LocalSandbox, SandboxLimits

BACKENDS = ["local", "docker"]


def open_box(request, backend: str, *, repo=None, limits: SandboxLimits | None = None, task_id: str = "test"):
    """A sandbox of ``backend``; Docker goes through the ``docker_client`` fixture (skip/fail rule)."""
    if backend == "docker":
        client = request.getfixturevalue("docker_client")
        from patchloop.sandbox.images import ensure_base_image

        return DockerSandbox(ensure_base_image(client), repo=repo, limits=limits, task_id=task_id, client=client)
    return LocalSandbox(repo=repo, limits=limits, task_id=task_id)


def labelled_containers(client) -> set[str]:
    """Containers this test process owns (other processes may share the engine meanwhile)."""
    return {c.name for c in client.containers.list(all=True, filters={"label": f"patchloop.pid={os.getpid()}"})}


def assert_closed_clean(request, box) -> None:
    """After close(): no container of ours, no local temp dir, no cgroup left."""
    if box.backend == "docker":
        client = request.getfixturevalue("docker_client")
        assert box.container.name not in labelled_containers(client)
        assert box.volume.name not in {v.name for v in client.volumes.list(filters={"label": "patchloop=1"})}
    else:
        assert not box.root.exists()
        assert not any(c.exists() for c in box.cgroups)


def host_processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker`` (a sandbox process that escaped)."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            # /proc cmdline separates arguments with NULs; markers are written with spaces
            if marker.encode() in (p / "cmdline").read_bytes().replace(b"\0", b" "):
                found.append(int(p.name))
        except OSError:
            continue
    return found


def make_git_repo(root: Path, files: dict[str, str]) -> Path:
    """A host git repository at ``root`` holding ``files``, committed once: a task's base."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    subprocess.run("git init -q . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m base",
                   shell=True, cwd=root, check=True)
    return root
