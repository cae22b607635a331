"""``patchloop train``: SFT and GRPO with TRL (argument parsing only).

Every config key is also a flag, applied on top of the YAML preset: ``--max-steps 20``,
``--train.max_steps=20``, ``train.max_steps=20`` and ``--lora``/``--no-lora`` all work
(``patchloop.rl.config.cli_overrides``); ``--dry-run`` prints the resolved config and every key.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Fine-tune a code model: SFT on solutions, GRPO on execution rewards.", no_args_is_help=True)

_CTX = {"allow_extra_args": True, "ignore_unknown_options": True}
_CONFIG = typer.Option(None, "--config", "-c", help="YAML preset (see configs/); defaults apply without one.")
_OVERRIDES = typer.Argument(None, help="Any config key as a flag or KEY=VALUE: --max-steps 20, "
                             "--learning-rate 1e-4, --lora, train.seed=3 (--dry-run lists them).")
_DRY_RUN = typer.Option(False, "--dry-run", help="Print the resolved config and every key's flag, then exit.")


def _run(kind: str, config: Path | None, overrides: list[str] | None, dry_run: bool) -> None:
    from patchloop.rl.config import ConfigError, GRPORunConfig, SFTRunConfig, load_config

    cls = SFTRunConfig if kind == "sft" else GRPORunConfig
    try:
        cfg = load_config(cls, config, overrides or [])
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if dry_run:
        _print_config(cls, cfg)
        return
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


def _print_config(cls, cfg) -> None:
    """The resolved config as YAML on stdout (a valid preset), every key's flag on stderr."""
    import yaml

    from patchloop.rl.config import describe_keys

    typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), nl=False)
    rows = describe_keys(cls)
    width = max(len(f"{flag} ({key})") for flag, key, _ in rows)
    typer.echo(f"# every key is a flag ({cls.__name__}):", err=True)
    for flag, key, doc in rows:
        typer.echo(f"#   {f'{flag} ({key})':<{width}}  {doc}", err=True)


@app.command("sft", context_settings=_CTX)
def sft(config: Path = _CONFIG, overrides: list[str] = _OVERRIDES, dry_run: bool = _DRY_RUN) -> None:
    """Supervised fine-tuning (TRL SFTTrainer) on prompt/canonical-solution pairs."""
    _run("sft", config, overrides, dry_run)


@app.command("grpo", context_settings=_CTX)
def grpo(config: Path = _CONFIG, overrides: list[str] = _OVERRIDES, dry_run: bool = _DRY_RUN) -> None:
    """GRPO (TRL GRPOTrainer) with the sandboxed execution reward on test-only tasks."""
    _run("grpo", config, overrides, dry_run)
