"""`patchloop mcp`: argument parsing only; the server is ``patchloop.agent.mcp_server``."""

from __future__ import annotations

from typing import Annotated

import typer

from patchloop.commands import PROFILE_HELP, ActionMode, Backend, agent_options


def mcp(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="The model propose_fix uses: openai:NAME (with --base-url) or hf:PATH[+ADAPTER].")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint for openai: models (e.g. patchloop serve's).")] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Model calls allowed per propose_fix.")] = 30,
    context_tokens: Annotated[int | None, typer.Option("--context", help="The model's context window (default: what the backend reports).")] = None,
    action_mode: Annotated[ActionMode, typer.Option("--action-mode", help="tools or text (one ```bash command per reply).")] = ActionMode.tools,
    backend: Annotated[Backend, typer.Option("--backend", help="Sandbox backend for the fix, repo map and tests.")] = Backend.auto,
    agent_profile: Annotated[str | None, typer.Option("--agent-profile", help=PROFILE_HELP)] = None,
) -> None:
    """Serve the agent to an editor over MCP (stdio): propose_fix, repo_map, run_tests, apply_diff."""
    from patchloop.agent.mcp_server import build_server
    from patchloop.agent.profiles import ProfileError, agent_config
    from patchloop.llm import LLMError, parse_model_spec

    if model:
        try:
            parse_model_spec(model)
        except LLMError as e:
            typer.echo(f"patchloop mcp: {e}", err=True)
            raise typer.Exit(2) from None
    try:
        cfg = agent_config(*agent_options(ctx), agent_profile)  # the agent options above, read through ctx
    except ProfileError as e:
        typer.echo(f"patchloop mcp: {e}", err=True)
        raise typer.Exit(2) from None
    build_server(model_spec=model, base_url=base_url, cfg=cfg, backend=backend.value).run("stdio")
