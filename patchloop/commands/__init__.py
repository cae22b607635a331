"""Typer sub-apps, one module per command group. Argument parsing only: each command
imports the package that does the work inside its body, so ``patchloop --help`` stays instant."""

from enum import Enum


class Backend(str, Enum):
    """Sandbox backend choice shared by every command that opens sandboxes."""

    auto = "auto"
    docker = "docker"
    local = "local"


class ActionMode(str, Enum):
    """How the agent's model acts: tool calls, or one shell command in a fenced block per turn."""

    tools = "tools"
    text = "text"
