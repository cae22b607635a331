"""``patchloop demo``: the offline learning loop end to end (argument parsing only)."""

from __future__ import annotations

from pathlib import Path

import typer

_QUICK = typer.Option(False, "--quick", help="Smoke-test sizes (< 5 min): every stage, few steps.")
_OUT = typer.Option(None, "--out", "-o", help="Run directory (default runs/demo, or runs/demo-quick with --quick); "
                                              "finished stages are skipped.")
_BACKEND = typer.Option("auto", "--backend", "-b", help="Sandbox for grading: docker, local or auto.")
_SEED = typer.Option(0, "--seed", help="Seed for the model, tasks and training.")


def demo(quick: bool = _QUICK, out: Path | None = _OUT, backend: str = _BACKEND, seed: int = _SEED) -> None:
    """Build a tiny model, generate tasks, SFT, GRPO, evaluate, write runs/demo/report.html."""
    from patchloop.rl.demo import run_demo

    if backend not in ("auto", "docker", "local"):
        raise typer.BadParameter(f"unknown backend {backend!r} (docker, local, auto)", param_hint="--backend")
    # A smoke run must not satisfy the full demo's stages, so it gets its own directory.
    run_demo(out or Path("runs/demo-quick" if quick else "runs/demo"), quick=quick, backend=backend, seed=seed)
