"""Fixtures for agentic RL tests: the offline tiny model (built once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    from patchloop.llm.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("agentic-tiny") / "model", seed=0)
