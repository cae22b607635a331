"""What every ``patchloop train`` command shares: a preset, any key as a flag, ``--dry-run``.

Its own module so that ``train`` (the single-turn trainers) and ``train_agentic`` (the agent's)
both take them from below rather than from each other.
"""

from __future__ import annotations

from pathlib import Path

import typer

_CTX = {"allow_extra_args": True, "ignore_unknown_options": True}
_CONFIG = typer.Option(None, "--config", "-c", help="YAML preset (see configs/); defaults apply without one.")
_OVERRIDES = typer.Argument(None, help="Any config key as a flag or KEY=VALUE: --max-steps 20, "
                             "--learning-rate 1e-4, --lora, train.seed=3 (--dry-run lists them).")
_DRY_RUN = typer.Option(False, "--dry-run", help="Print the resolved config and every key's flag, then exit.")



def print_config(cls, cfg) -> None:
    """The resolved config as YAML on stdout (a valid preset), every key's flag on stderr."""
    import yaml

    from patchloop.rl.config import describe_keys

    typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), nl=False)
    rows = describe_keys(cls)
    width = max(len(f"{flag} ({key})") for flag, key, _ in rows)
    typer.echo(f"# every key is a flag ({cls.__name__}):", err=True)
    for flag, key, doc in rows:
        typer.echo(f"#   {f'{flag} ({key})':<{width}}  {doc}", err=True)


def add_command(app: typer.Typer, name: str, help: str, run) -> None:
    """Add ``patchloop train NAME`` to ``app``: a preset (``--config``), any key as a flag and
    ``--dry-run``, handed to ``run(name, config, overrides, dry_run)``. Every trainer takes the
    same arguments, so each is one line of ``_COMMANDS`` rather than a function of its own."""

    def command(config: Path = _CONFIG, overrides: list[str] = _OVERRIDES, dry_run: bool = _DRY_RUN) -> None:
        run(name, config, overrides, dry_run)

    command.__doc__ = help
    app.command(name, context_settings=_CTX)(command)
