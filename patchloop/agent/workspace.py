"""Sandboxes for the agent: a task's repository at its base commit, or the user's own
repository, in Docker where an engine answers and locally otherwise."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from patchloop.types import Task


@contextmanager
def open_workspace(task: Task, backend: str = "auto", *, repo: str | Path | None = None,
                   limits=None) -> Iterator[tuple[object, str]]:
    """Yield ``(sandbox, python)`` for ``task``: ``repo`` when given (the user's tree, whose
    HEAD is the base), else the task's repository checked out at ``base_commit`` with no
    later history. ``python`` is the interpreter with pytest inside that sandbox: the
    task's environment image under Docker, this venv's under the local backend."""
    sb, python = task_sandbox(task, backend, repo=repo, limits=limits)
    with sb:
        yield sb, python


def task_sandbox(task: Task, backend: str = "auto", *, repo: str | Path | None = None,
                 limits=None) -> tuple[object, str]:
    """A new ``(sandbox, python)`` as ``open_workspace`` yields it, for callers that keep
    sandboxes beyond one block (RL rollouts hand them to a ``SandboxPool``); the caller closes it.
    The sandbox holds its own copy of the repository, so the checkout is removed at once."""
    from patchloop.evals.repos import checkout_task_repo
    from patchloop.evals.swe import env_image, resolve_backend
    from patchloop.sandbox import open_sandbox

    resolved = resolve_backend(backend)
    image = env_image(task)[0] if resolved == "docker" else None
    python = "python" if resolved == "docker" else sys.executable
    with tempfile.TemporaryDirectory(prefix="patchloop-agent-") as tmp:
        src = Path(repo) if repo is not None else checkout_task_repo(task, Path(tmp) / "repo")
        return open_sandbox(resolved, repo=src, image=image, limits=limits, task_id=task.instance_id), python
