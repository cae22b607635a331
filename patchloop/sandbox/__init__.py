"""Sandboxes: where every line of untrusted code runs. See ``base.py`` for the protocol."""

from patchloop.sandbox.base import OutputCap, Sandbox, SandboxError, SandboxLimits, cap_text, parse_size

__all__ = ["OutputCap", "Sandbox", "SandboxError", "SandboxLimits", "cap_text", "parse_size"]
