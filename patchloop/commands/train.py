"""``patchloop train``: SFT, GRPO, RFT and DPO with TRL (argument parsing only).

Every config key is also a flag, applied on top of the YAML preset: ``--max-steps 20``,
``--train.max_steps=20``, ``train.max_steps=20`` and ``--lora``/``--no-lora`` all work
(``patchloop.rl.config.cli_overrides``); ``--dry-run`` prints the resolved config and every key.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Fine-tune a code model: SFT on solutions; GRPO, RFT and DPO on execution verdicts.",
                  no_args_is_help=True)

_CTX = {"allow_extra_args": True, "ignore_unknown_options": True}
_CONFIG = typer.Option(None, "--config", "-c", help="YAML preset (see configs/); defaults apply without one.")
_OVERRIDES = typer.Argument(None, help="Any config key as a flag or KEY=VALUE: --max-steps 20, "
                             "--learning-rate 1e-4, --lora, train.seed=3 (--dry-run lists them).")
_DRY_RUN = typer.Option(False, "--dry-run", help="Print the resolved config and every key's flag, then exit.")


def _kinds():
    """Trainer name -> (config class, ``module:function`` that runs it)."""
    from patchloop.rl.config import GRPORunConfig, SFTRunConfig
    from patchloop.rl.sample_config import DPORunConfig, RFTRunConfig

    return {"sft": (SFTRunConfig, "sft:run_sft"), "grpo": (GRPORunConfig, "grpo:run_grpo"),
            "rft": (RFTRunConfig, "rft:run_rft"), "dpo": (DPORunConfig, "dpo:run_dpo")}


def _run(kind: str, config: Path | None, overrides: list[str] | None, dry_run: bool) -> None:
    import importlib

    from patchloop.rl.config import ConfigError, load_config

    cls, target = _kinds()[kind]
    try:
        cfg = load_config(cls, config, overrides or [])
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if dry_run:
        _print_config(cls, cfg)
        return
    module, func = target.split(":")
    run = getattr(importlib.import_module(f"patchloop.rl.{module}"), func)
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


def add_command(app: typer.Typer, name: str, help: str, run) -> None:
    """Add ``patchloop train NAME`` to ``app``: a preset (``--config``), any key as a flag and
    ``--dry-run``, handed to ``run(name, config, overrides, dry_run)``. Every trainer takes the
    same arguments, so each is one line of ``_COMMANDS`` rather than a function of its own."""

    def command(config: Path = _CONFIG, overrides: list[str] = _OVERRIDES, dry_run: bool = _DRY_RUN) -> None:
        run(name, config, overrides, dry_run)

    command.__doc__ = help
    app.command(name, context_settings=_CTX)(command)


_COMMANDS = {
    "sft": "Supervised fine-tuning (TRL SFTTrainer) on prompt/canonical-solution pairs.",
    "grpo": "GRPO (TRL GRPOTrainer) with the sandboxed execution reward on test-only tasks.",
    "rft": "Rejection-sampling fine-tuning: sample k per prompt, keep what passes the tests, SFT on it.",
    "dpo": "DPO (TRL DPOTrainer) on pairs built by execution: a passing sample chosen, a failing one rejected.",
}
for _name, _help in _COMMANDS.items():
    add_command(app, _name, _help, _run)


def _add_agentic() -> None:
    from patchloop.commands.train_agentic import register

    register(app)


_add_agentic()
