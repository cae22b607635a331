"""``open_sandbox``: pick a backend by name, or the strongest one this machine has."""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from patchloop.sandbox.base import Sandbox, SandboxError, SandboxLimits

log = logging.getLogger(__name__)
BACKENDS = ("auto", "docker", "local")


@functools.cache
def docker_client() -> Any | None:
    """A live Docker client shared by this process, or None when no engine answers."""
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception as e:  # noqa: BLE001 -- no SDK socket, engine down, permission denied: all mean "no docker"
        log.info("no Docker engine: %s", e)
        return None


def require_docker_client(client: Any = None, *, who: str = "docker", timeout: float = 60) -> Any:
    """``client`` itself, or a new client to a live engine; ``SandboxError`` naming ``who`` when
    none answers. (``timeout`` is per API call: image imports and builds need minutes.)"""
    if client is not None:
        return client
    import docker

    try:
        c = docker.from_env(timeout=timeout)
        c.ping()
        return c
    except Exception as e:
        raise SandboxError(who, f"no Docker engine answers: {e}") from e


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
