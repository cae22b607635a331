"""How both backends start the command runner (``runner/``) inside their sandbox.

The runner is several standard-library modules; none of them is written into the sandbox.
A backend starts ``python3 -c BOOT --serve ...`` and sends ``runner_bundle()`` as the first
line of its stdin: BOOT runs each module's source under its own top-level name, in the order
of ``RUNNER_FILES``, and the last, ``runner/server.py``, as ``__main__``, which then serves on the
same stdin. Nothing lands in a container's read-only image, and ``ps`` inside the sandbox
shows one short line instead of the runner's source.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

RUNNER_DIR = Path(__file__).parent / "runner"
# The name each module runs under in the sandbox (the name its siblings import it by): its
# file in ``runner/``. Import order: each module only imports those before it; the last is
# the server.
RUNNER_FILES = {"runner_output": "output.py", "runner_procs": "procs.py", "runner_mounts": "mounts.py",
                "runner": "server.py"}
BOOT = ("import json,sys,types;[exec(compile(s,f,'exec'),vars(sys.modules.setdefault(n,types.ModuleType(n))))"
        " for n,f,s in json.loads(sys.stdin.buffer.readline())]")


@functools.cache
def runner_bundle(directory: Path = RUNNER_DIR) -> bytes:
    """The line BOOT reads: ``[module name, file name for tracebacks, source]`` per module.

    Read once per process, so every sandbox of a long run gets the runner the run started
    with, even if the checkout changes under it.
    """
    modules = [[name, f"patchloop-{name}", (directory / source).read_text(encoding="utf-8")]
               for name, source in RUNNER_FILES.items()]
    modules[-1][0] = "__main__"
    return json.dumps(modules).encode() + b"\n"
