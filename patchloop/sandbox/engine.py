"""The one door to the Docker SDK: the ``docker`` package is imported here and nowhere else.

Everything that talks to a Docker engine (the Docker backend, image building, ``sandbox gc``
and ``sandbox ls``, the evaluation harness choosing its backend) gets the SDK and its clients
from this module, so there is one answer to "does an engine answer?" per process, with one
timeout, and the SDK loads only when a sandbox needs it (``patchloop --help`` stays instant).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from patchloop.sandbox.base import SandboxError

log = logging.getLogger(__name__)


class NoEngine(Exception):
    """No Docker engine answers (no SDK socket, engine down, permission denied)."""


def sdk() -> Any:
    """The ``docker`` SDK module, with ``docker.errors`` and ``docker.types`` loaded."""
    import docker
    import docker.errors
    import docker.types

    return docker


@functools.cache
def docker_client() -> Any | None:
    """A live Docker client shared by this process, or None when no engine answers."""
    try:
        client = sdk().from_env(timeout=60)
        client.ping()
        return client
    except Exception as e:  # noqa: BLE001 -- no SDK socket, engine down, permission denied: all mean "no docker"
        log.info("no Docker engine: %s", e)
        return None


def docker_answers() -> bool:
    """Whether a Docker engine answers this process (asked once, then remembered)."""
    return docker_client() is not None


def require_docker_client(client: Any = None, *, who: str = "docker", timeout: float = 60) -> Any:
    """``client`` itself, or a new client to a live engine; ``SandboxError`` naming ``who`` when
    none answers. (``timeout`` is per API call: image imports and builds need minutes.)"""
    if client is not None:
        return client
    docker = sdk()
    try:
        c = docker.from_env(timeout=timeout)
        c.ping()
        return c
    except Exception as e:
        raise SandboxError(who, f"no Docker engine answers: {e}") from e


def labelled_containers(label: str = "patchloop=1") -> list[Any]:
    """Every container (running or not) carrying ``label``; :class:`NoEngine` when none answers."""
    docker = sdk()
    try:
        return docker.from_env().containers.list(all=True, filters={"label": label})
    except (docker.errors.DockerException, OSError) as e:
        raise NoEngine(str(e)) from e
