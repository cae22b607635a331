"""``patchloop demo``: the offline learning loop end to end (argument parsing only)."""

from __future__ import annotations

from pathlib import Path

import typer

_QUICK = typer.Option(False, "--quick", help="One-minute smoke run on the tiny model (every stage, few steps).")
_TINY = typer.Option(False, "--tiny", help="The full loop on the tiny model (SFT then GRPO; < 30 min).")
_MODEL = typer.Option("qwen2.5-coder-0.5b-instruct", "--model", "-m",
                      help="Real model for the default demo: a catalog name (fetched once) or an HF checkpoint dir.")
_OUT = typer.Option(None, "--out", "-o", help="Run directory (default runs/demo, runs/demo-tiny or runs/demo-quick); "
                                              "finished stages are skipped.")
_BACKEND = typer.Option("auto", "--backend", "-b", help="Sandbox for grading: docker, local or auto.")
_SEED = typer.Option(0, "--seed", help="Seed for the tasks, the HumanEval subset and training.")


def demo(quick: bool = _QUICK, tiny: bool = _TINY, model: str = _MODEL, out: Path | None = _OUT,
         backend: str = _BACKEND, seed: int = _SEED) -> None:
    """Real model: HumanEval subset, RFT on verified tasks, HumanEval again, runs/demo/report.html.
    --quick / --tiny: the same loop's stages on the tiny model (SFT, GRPO)."""
    if backend not in ("auto", "docker", "local"):
        raise typer.BadParameter(f"unknown backend {backend!r} (docker, local, auto)", param_hint="--backend")
    if quick or tiny:
        from patchloop.demo.tiny import run_demo

        # A smoke run must not satisfy the full demo's stages, so each gets its own directory.
        run_demo(out or Path("runs/demo-quick" if quick else "runs/demo-tiny"), quick=quick, backend=backend, seed=seed)
        return
    from patchloop.llm.catalog.models import CATALOG

    if model in CATALOG:
        from patchloop.commands.progress import byte_progress
        from patchloop.llm.catalog.fetch import fetch_model
        from patchloop.llm.errors import LLMError

        try:
            with byte_progress(f"fetching {model}") as progress:
                fetch_model(model, progress=progress)
        except LLMError as e:
            typer.echo(f"error: model {model}: {e}", err=True)
            raise typer.Exit(1) from None
    from patchloop.demo.real import run_real_demo

    try:
        run_real_demo(out or Path("runs/demo"), model=model, backend=backend, seed=seed)
    except (ValueError, OSError) as e:
        typer.echo(f"error: demo: {e}", err=True)
        raise typer.Exit(1) from None
