"""``patchloop serve``: an OpenAI-compatible server over a local checkpoint (parsing only)."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    model: str = typer.Option(..., "--model", help="Checkpoint directory (or hub id where a hub is reachable)."),
    adapter: Path | None = typer.Option(None, "--adapter", help="PEFT LoRA adapter directory to load on top."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="Port; 0 picks a free one (the URL is printed)."),
    name: str | None = typer.Option(None, "--name", help="Model id reported by /v1/models (default: the path)."),
    max_tokens: int = typer.Option(512, "--max-tokens", help="Default max_tokens when a request sets none."),
) -> None:
    """Serve a local model over /v1/chat/completions (tools, streaming). Ctrl-C stops it."""
    from patchloop.llm.errors import LLMError
    from patchloop.llm.server import run_server

    try:
        run_server(model, adapter=str(adapter) if adapter else None, host=host, port=port,
                   name=name, default_max_tokens=max_tokens)
    except LLMError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
