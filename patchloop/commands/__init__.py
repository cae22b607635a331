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


# option parameter name -> the AgentConfig field it sets (fix, batch and mcp share these options)
AGENT_FIELDS = {"max_steps": "max_steps", "max_tokens": "max_tokens", "max_wall": "max_wall_s",
                "context_tokens": "context_tokens", "max_new_tokens": "completion_tokens",
                "repo_map_tokens": "repo_map_tokens", "action_mode": "action_mode", "demos": "demonstrations",
                "approve": "approve"}


def agent_options(ctx) -> tuple[dict, set[str]]:
    """The command's agent options as ``AgentConfig`` fields (enum choices as their values), and
    the fields whose option the user gave rather than left at its default: those win over a
    profile. Only the options the command has are taken."""
    values, given = {}, set()
    for param, field in AGENT_FIELDS.items():
        if param not in ctx.params:
            continue
        value = ctx.params[param]
        values[field] = value.value if isinstance(value, Enum) else value
        # by name: the enum class is the click that typer runs on, which need not be ``click`` itself
        if getattr(ctx.get_parameter_source(param), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP"):
            given.add(field)
    return values, given
