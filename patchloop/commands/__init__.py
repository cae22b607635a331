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


PROFILE_HELP = "Agent settings for a model: NAME of configs/agent/NAME.yaml, or a YAML file; options given here override it."


def given_fields(ctx, fields: dict[str, str]) -> set[str]:
    """The ``AgentConfig`` fields (values of ``fields``, keyed by option parameter name) whose
    option the user gave, as opposed to left at its default: those win over a profile."""
    # by name: the enum class is the click that typer runs on, which need not be ``click`` itself
    return {f for p, f in fields.items()
            if getattr(ctx.get_parameter_source(p), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")}
