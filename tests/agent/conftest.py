"""Fixtures for agent tests: a real local sandbox holding a built-in sample instance's
repository at its base commit (checked out the way the harness does it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from patchloop.agent.state import AgentConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
INSTANCES = EXAMPLES / "swe" / "instances.jsonl"


def load_instance(instance_id: str):
    from patchloop.evals.datasets import load_tasks

    return next(t for t in load_tasks(INSTANCES) if t.instance_id == instance_id)


def agent_config(**kw) -> AgentConfig:
    """The local backend runs tests with this venv's Python (it has pytest)."""
    return AgentConfig(**{"python": sys.executable, **kw})


def open_task_sandbox(task, dest: Path, backend: str = "local"):
    from patchloop.evals.repos import checkout_task_repo
    from patchloop.sandbox import open_sandbox

    repo = checkout_task_repo(task, dest)
    return open_sandbox(backend, repo=repo, task_id=task.instance_id)


@pytest.fixture(scope="session")
def textkit_task():
    return load_instance("textkit-1")


@pytest.fixture
def textkit_sandbox(textkit_task, tmp_path):
    sb = open_task_sandbox(textkit_task, tmp_path / "repo")
    yield sb
    sb.close()
