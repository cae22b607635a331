"""``patchloop model``: build local models (argument parsing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Build local models (a tiny offline model for tests and demos).", no_args_is_help=True)


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
