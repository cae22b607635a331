"""Piped output keeps long lines whole: rich's console, 80 columns wide when not a terminal,
split paths and ``[Errno 111]`` across lines in progress messages."""

from __future__ import annotations

import os
import subprocess
import sys

LONG = "error textkit-1: cannot reach http://127.0.0.1:9/v1 ([Errno 111] Connection refused) " + "/deep/path" * 12

SCRIPT = f"""
import patchloop.cli
from rich.progress import Progress
with Progress() as bar:
    bar.console.print({LONG!r})
from rich import print
print({LONG!r})
"""


def test_a_long_progress_message_is_one_line_when_piped():
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    lines = [ln.rstrip() for ln in out.stdout.splitlines() if ln.strip()]
    assert lines.count(LONG) == 2, out.stdout
