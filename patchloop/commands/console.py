"""The console every rich progress bar and message of the command line writes to.

Piped into a file or another program, rich's console is 80 columns wide and hard-wraps
longer lines, splitting paths and messages such as ``[Errno 111] Connection refused`` in two.
Every ``Progress`` and ``print`` without a console of its own uses rich's global one, so the
command line sets it up once: soft wrap when the output is not a terminal (a line stays one
line; a terminal still wraps it on screen).
"""

from __future__ import annotations

import sys


def whole_lines_when_piped() -> None:
    """Make rich's global console keep long lines whole when stdout is not a terminal."""
    if sys.stdout.isatty():
        return
    import rich

    rich.reconfigure(soft_wrap=True)
