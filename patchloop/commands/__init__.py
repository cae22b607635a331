"""Typer sub-apps, one module per command group. Argument parsing only: each command
imports the package that does the work inside its body, so ``patchloop --help`` stays instant."""

from enum import Enum


class Backend(str, Enum):
    """Sandbox backend choice shared by every command that opens sandboxes."""

    auto = "auto"
    docker = "docker"
    local = "local"
