"""``open_sandbox``: pick a backend by name, or the strongest one this machine has."""

from __future__ import annotations

import logging
import os

from patchloop.sandbox.base import Sandbox, SandboxError, SandboxLimits
from patchloop.sandbox.engine import docker_client

log = logging.getLogger(__name__)
BACKENDS = ("auto", "docker", "local")


def open_sandbox(backend: str = "auto", *, repo: str | os.PathLike | None = None, image: str | None = None,
                 limits: SandboxLimits | None = None, task_id: str = "") -> Sandbox:
    """Open a sandbox whose workspace holds a copy of ``repo`` (or an empty git repository).

    ``auto`` uses Docker when an engine answers and falls back to the weaker local backend
    (saying so). ``image`` only applies to Docker (default: the offline base image).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if backend in ("auto", "docker"):
        client = docker_client()
        if client is not None:
            from patchloop.sandbox.docker import DockerSandbox

            return DockerSandbox(image, repo=repo, limits=limits, task_id=task_id, client=client)
        if backend == "docker":
            raise SandboxError(task_id, "backend 'docker' requested but no Docker engine answers")
        log.warning("no Docker engine answers: falling back to the local backend (weaker isolation)")
    from patchloop.sandbox.local import LocalSandbox

    return LocalSandbox(repo=repo, limits=limits, task_id=task_id)
