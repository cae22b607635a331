"""Fixtures for the LLM tests: one tiny model per session (building it takes ~10 s)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from patchloop.llm.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)
