"""Helpers for the SWE harness tests: real patches made with real git on a real checkout."""

from __future__ import annotations

import tempfile
from pathlib import Path

from patchloop.evals.datasets import load_tasks
from patchloop.evals.repos import checkout_task_repo, git
from patchloop.types import Task


def builtin(instance_id: str) -> Task:
    return next(t for t in load_tasks("builtin") if t.instance_id == instance_id)


def make_patch(task: Task, edits: dict[str, tuple[str, str] | str], *, gold: bool = False) -> str:
    """A git diff against the task's base: ``path -> (old, new)`` replaces text once,
    ``path -> str`` writes the whole file; ``gold`` applies the gold patch first."""
    with tempfile.TemporaryDirectory() as tmp:
        root = checkout_task_repo(task, Path(tmp) / "repo")
        if gold:
            git(root, "apply", "-", stdin=task.patch)
        for path, edit in edits.items():
            f = root / path
            if isinstance(edit, str):
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(edit)
            else:
                old, new = edit
                text = f.read_text()
                assert text.count(old) == 1, f"{path}: {old!r}"
                f.write_text(text.replace(old, new))
        git(root, "add", "-A")
        return git(root, "diff", "--cached", "--no-color", "HEAD", strip=False)
