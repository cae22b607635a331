"""Rich progress for long CLI jobs that report ``(phase, done, total)``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)


@contextmanager
def byte_progress(label: str) -> Iterator:
    """A bar in bytes for downloads; a spinner with a count or phase name for everything else."""
    cols = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeElapsedColumn())
    with Progress(*cols, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(phase: str, done: int, total: int) -> None:
            in_bytes = total >= 1 << 20  # downloads; counts of smaller things go into the text
            text = f"{label}: {phase}" + (f" {done}/{total}" if 1 < total < 1 << 20 else "")
            bar.update(task, description=text, completed=done if in_bytes else 0,
                       total=total if in_bytes else None)

        yield update
