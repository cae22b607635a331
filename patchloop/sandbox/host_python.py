"""The host interpreter that builds an environment image's wheelhouse (``pip wheel``).

Wheels carry the interpreter's ABI tag, so it must be a python of the image's minor version,
and it must have pip. The first ``python3`` on ``PATH`` is often neither: with a virtual
environment activated it is the venv's own, which has no pip when the venv was made by uv or
``--without-pip``. So every ``python3.X``/``python3`` on ``PATH`` is tried in turn, then the
interpreter the running venv was made from.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from patchloop.sandbox.base import SandboxError

_PROBE = "import sys, pip; print('%d.%d' % sys.version_info[:2])"


def candidates(minor: str) -> list[str]:
    """Interpreters worth asking, in order, each once (by path)."""
    found = [sys.executable]
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    for name in (f"python{minor}", "python3"):
        found += [str(Path(d) / name) for d in dirs if os.access(Path(d) / name, os.X_OK)]
    base = Path(sys.base_prefix) / "bin"
    found += [getattr(sys, "_base_executable", ""), str(base / f"python{minor}"), str(base / "python3")]
    seen: list[str] = []
    for cand in found:
        if cand and cand not in seen and os.access(cand, os.X_OK):
            seen.append(cand)
    return seen


def host_pip_python(minor: str) -> str:
    """A host interpreter of python ``minor`` that has pip; one line naming those tried if none."""
    tried = candidates(minor)
    for cand in tried:
        probe = subprocess.run([cand, "-c", _PROBE], check=False, capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == minor:
            return cand
    raise SandboxError(
        "images",
        f"building a wheelhouse needs a host python{minor} with pip (the image runs python {minor}); "
        f"tried {', '.join(tried) or 'nothing'}",
    )
