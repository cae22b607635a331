"""Sandboxes: where every line of untrusted code runs. See ``base.py`` for the protocol.

``open_sandbox`` picks a backend; ``DockerSandbox`` (strong) and ``LocalSandbox`` (weaker)
share the command runner (``runner/server.py``) and patch handling (``patching.py``).
"""

from patchloop.sandbox.base import OutputCap, Sandbox, SandboxError, SandboxLimits, cap_text, parse_size
from patchloop.sandbox.docker import DockerSandbox, gc
from patchloop.sandbox.factory import open_sandbox
from patchloop.sandbox.local import LocalSandbox

__all__ = ["DockerSandbox", "LocalSandbox", "OutputCap", "Sandbox", "SandboxError", "SandboxLimits", "cap_text",
           "gc", "open_sandbox", "parse_size"]
