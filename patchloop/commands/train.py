"""``patchloop train``: SFT and GRPO with TRL (argument parsing only).

Overrides after the options are ``dotted.key=value`` pairs applied on top of the YAML preset,
e.g. ``patchloop train grpo --config configs/tiny-cpu-grpo.yaml train.max_steps=20 lora.enabled=true``.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Fine-tune a code model: SFT on solutions, GRPO on execution rewards.", no_args_is_help=True)

_CTX = {"allow_extra_args": True, "ignore_unknown_options": True}
_CONFIG = typer.Option(None, "--config", "-c", help="YAML preset (see configs/); defaults apply without one.")
_OVERRIDES = typer.Argument(None, help="KEY=VALUE overrides with dotted keys, e.g. train.learning_rate=1e-4.")


def _run(kind: str, config: Path | None, overrides: list[str] | None) -> None:
    from patchloop.rl.config import ConfigError, GRPORunConfig, SFTRunConfig, load_config

    try:
        cfg = load_config(SFTRunConfig if kind == "sft" else GRPORunConfig, config, overrides or [])
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if kind == "sft":
        from patchloop.rl.sft import run_sft as run
    else:
        from patchloop.rl.grpo import run_grpo as run
    try:
        final = run(cfg)
    except (FileNotFoundError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{kind}: model written to {final} (metrics: {Path(cfg.train.output_dir) / 'metrics.jsonl'})")


@app.command("sft", context_settings=_CTX)
def sft(config: Path = _CONFIG, overrides: list[str] = _OVERRIDES) -> None:
    """Supervised fine-tuning (TRL SFTTrainer) on prompt/canonical-solution pairs."""
    _run("sft", config, overrides)


@app.command("grpo", context_settings=_CTX)
def grpo(config: Path = _CONFIG, overrides: list[str] = _OVERRIDES) -> None:
    """GRPO (TRL GRPOTrainer) with the sandboxed execution reward on test-only tasks."""
    _run("grpo", config, overrides)
