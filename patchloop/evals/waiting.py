"""A wait of unknown length, visibly alive: a spinner with the seconds elapsed.

Loading a model, building a sandbox image or starting a grader can take from seconds to
minutes, and showed nothing. ``alive`` shows what is being waited for, on stderr, while it
runs, and leaves no trace afterwards; where stderr is not a terminal it shows nothing (a log
file gets the lines the command prints itself). It must not be nested in another rich live
display (a progress bar).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def alive(text: str, enabled: bool = True) -> Iterator[None]:
    """Show ``text`` with a spinner and the time elapsed until the block ends."""
    if not enabled or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(text), TimeElapsedColumn(), transient=True,
                  console=Console(stderr=True)) as bar:
        bar.add_task(text, total=None)
        yield
