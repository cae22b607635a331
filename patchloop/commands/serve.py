"""``patchloop serve``: an OpenAI-compatible server over a local checkpoint (parsing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    model: Annotated[str, typer.Option("--model", help="A catalog name (`patchloop model list`), a checkpoint or run directory, or a hub id.")],
    adapter: Annotated[Path | None, typer.Option("--adapter", help="PEFT LoRA adapter directory to load on top.")] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port; 0 picks a free one (the URL is printed).")] = 8000,
    name: Annotated[str | None, typer.Option("--name", help="Model id reported by /v1/models (default: the path).")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Default max_tokens when a request sets none.")] = 512,
    max_batch: Annotated[int, typer.Option("--max-batch", help="Most requests decoding at once (each joins the running batch at the next step).")] = 8,
    engine: Annotated[str, typer.Option("--engine", help="transformers (any checkpoint), llamacpp (a catalog "
                                        "name's GGUF or a .gguf file; build it with tools/llamacpp.sh) or vllm "
                                        "(set up with tools/vllm_cpu.sh on a CPU; batches many clients).")] = "transformers",
) -> None:
    """Serve a local model over /v1/chat/completions (tools, streaming). Ctrl-C stops it."""
    from patchloop.llm.errors import LLMError
    from patchloop.llm.serving.server import run_server

    if engine == "vllm":
        return _serve_vllm(model, adapter, port, name)
    try:
        run_server(model, adapter=str(adapter) if adapter else None, host=host, port=port,
                   name=name, default_max_tokens=max_tokens, max_batch=max_batch,
                   engine_kind=engine)
    except LLMError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


def _serve_vllm(model: str, adapter: Path | None, port: int, name: str | None) -> None:
    from patchloop.llm.generation import GenerationError
    from patchloop.llm.generation.engines import serve_vllm

    if adapter is not None:
        typer.echo("error: --engine vllm serves a trained run directory merged; pass it as --model", err=True)
        raise typer.Exit(2)
    try:
        serve_vllm(model, port=port, name=name, log_dir=Path("runs/engines"),
                   on_ready=lambda url, served: typer.echo(f"serving {served} at {url}/v1 (vLLM); Ctrl-C stops it"))
    except GenerationError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
