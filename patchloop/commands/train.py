"""``patchloop train``: SFT, GRPO, RFT and DPO with TRL (argument parsing only).

Every config key is also a flag, applied on top of the YAML preset: ``--max-steps 20``,
``--train.max_steps=20``, ``train.max_steps=20`` and ``--lora``/``--no-lora`` all work
(``patchloop.rl.config.cli_overrides``); ``--dry-run`` prints the resolved config and every key.
"""

from __future__ import annotations

from pathlib import Path

import typer

from patchloop.commands import train_agentic
from patchloop.commands.train_options import add_command, print_config

app = typer.Typer(help="Fine-tune a code model: SFT on solutions; GRPO, RFT and DPO on execution verdicts.",
                  no_args_is_help=True)


def _kinds():
    """Trainer name -> config class."""
    from patchloop.rl.config import GRPORunConfig, SFTRunConfig
    from patchloop.rl.sample_config import DPORunConfig, RFTRunConfig

    return {"sft": SFTRunConfig, "grpo": GRPORunConfig, "rft": RFTRunConfig, "dpo": DPORunConfig}


def _trainer(kind: str):
    """The function that runs ``kind``, imported only when it runs: the trainers load torch."""
    if kind == "sft":
        from patchloop.rl.sft import run_sft as run
    elif kind == "grpo":
        from patchloop.rl.grpo import run_grpo as run
    elif kind == "rft":
        from patchloop.rl.rft import run_rft as run
    else:
        from patchloop.rl.dpo import run_dpo as run
    return run


def _run(kind: str, config: Path | None, overrides: list[str] | None, dry_run: bool) -> None:
    from patchloop.rl.config import ConfigError, load_config

    cls = _kinds()[kind]
    try:
        cfg = load_config(cls, config, overrides or [])
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if dry_run:
        print_config(cls, cfg)
        return
    try:
        final = _trainer(kind)(cfg)
    except (FileNotFoundError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{kind}: model written to {final} (metrics: {Path(cfg.train.output_dir) / 'metrics.jsonl'})")


_COMMANDS = {
    "sft": "Supervised fine-tuning (TRL SFTTrainer) on prompt/canonical-solution pairs.",
    "grpo": "GRPO (TRL GRPOTrainer) with the sandboxed execution reward on test-only tasks.",
    "rft": "Rejection-sampling fine-tuning: sample k per prompt, keep what passes the tests, SFT on it.",
    "dpo": "DPO (TRL DPOTrainer) on pairs built by execution: a passing sample chosen, a failing one rejected.",
}
for _name, _help in _COMMANDS.items():
    add_command(app, _name, _help, _run)

train_agentic.register(app)
