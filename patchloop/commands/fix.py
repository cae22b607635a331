"""`patchloop fix`: argument parsing only; the work is in ``patchloop.agent.fix``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from patchloop.commands import PROFILE_HELP, ActionMode, Backend, agent_options

REQUIRED = "Required (a --resume takes them from the stopped run)"


class Approve(str, Enum):
    ask = "ask"
    auto = "auto"


def fix(
    ctx: typer.Context,
    repo: Annotated[Path | None, typer.Option("--repo", help="The repository to fix (a copy is used; your tree is untouched unless you apply).", rich_help_panel=REQUIRED)] = None,
    issue: Annotated[str | None, typer.Option("--issue", help="The issue text (or --issue-file).", rich_help_panel=REQUIRED)] = None,
    issue_file: Annotated[Path | None, typer.Option("--issue-file", help="A file holding the issue text (or --issue).", rich_help_panel=REQUIRED)] = None,
    model: Annotated[str | None, typer.Option("--model", help="openai:NAME (with --base-url) or hf:PATH[+ADAPTER].", rich_help_panel=REQUIRED)] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint for openai: models.")] = None,
    approve: Annotated[Approve, typer.Option("--approve", help="ask: commands that change the workspace wait for your approval.")] = Approve.ask,
    apply: Annotated[bool, typer.Option("--apply", help="Apply the final diff to --repo without asking.")] = False,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Model calls allowed.")] = 30,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Token budget (prompt + completion).")] = 400_000,
    max_wall: Annotated[float, typer.Option("--max-wall", help="Wall-clock budget in seconds.")] = 1800.0,
    context_tokens: Annotated[int | None, typer.Option("--context", help="The model's context window in tokens (default: what the backend reports, else 32000).")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Longest model reply in tokens.")] = 1024,
    repo_map_tokens: Annotated[int, typer.Option("--repo-map-tokens", help="Token budget of the repository outline in the first message.")] = 1500,
    action_mode: Annotated[ActionMode, typer.Option("--action-mode", help="tools: the model calls tools; text: one ```bash command per reply (for models whose tool calling is weak).")] = ActionMode.tools,
    demos: Annotated[bool, typer.Option("--demos/--no-demos", help="Add the prompt version's worked example to the system prompt.")] = False,
    resume: Annotated[str | None, typer.Option("--resume", help="Continue a stopped run by its thread id.")] = None,
    backend: Annotated[Backend, typer.Option("--backend", help="Sandbox backend: docker where an engine answers, else local.")] = Backend.auto,
    agent_profile: Annotated[str | None, typer.Option("--agent-profile", help=PROFILE_HELP)] = None,
) -> None:
    """Let the agent fix an issue in a repository, streaming what it does; shows the diff and applies it on approval.

    Required: --repo, an issue (--issue or --issue-file) and --model; a --resume takes them from the stopped run."""
    from patchloop.agent.fix import run_fix
    from patchloop.agent.profiles import ProfileError, agent_config

    if issue_file is not None:
        try:
            issue = issue_file.read_text(encoding="utf-8")
        except OSError as e:
            typer.echo(f"patchloop fix: cannot read --issue-file {issue_file}: {e.strerror}", err=True)
            raise typer.Exit(2) from None
    try:
        cfg = agent_config(*agent_options(ctx), agent_profile)  # the agent options above, read through ctx
    except ProfileError as e:
        typer.echo(f"patchloop fix: {e}", err=True)
        raise typer.Exit(2) from None
    code = run_fix(repo=str(repo) if repo else None, issue=issue, model_spec=model, base_url=base_url, cfg=cfg,
                   apply=apply, resume=resume, backend=backend.value)
    raise typer.Exit(code)
