"""``patchloop train agent-rollouts | agent-rft | agent-dpo | agent-grpo``: the agent trained on its own
rollouts (argument parsing only; the work is in ``patchloop.rl.agentic``). Every config key is a
flag, as for the other trainers (``--samples-per-task 8``, ``--rollouts.agent.max-steps 12``);
``--dry-run`` prints the resolved config and every key."""

from __future__ import annotations

from pathlib import Path

import typer

from patchloop.commands.train_options import add_command, print_config


def _fail(e: Exception, code: int) -> typer.Exit:
    typer.echo(f"error: {e}", err=True)
    return typer.Exit(code)


def _load(kind: str, config: Path | None, overrides: list[str] | None):
    from patchloop.rl.agentic.config import (
        AgentDPOConfig,
        AgentGRPOConfig,
        AgentRFTConfig,
        AgentRolloutsConfig,
        load_rollouts_config,
    )
    from patchloop.rl.config import ConfigError, load_config

    cls = {"agent-rollouts": AgentRolloutsConfig, "agent-rft": AgentRFTConfig, "agent-dpo": AgentDPOConfig,
           "agent-grpo": AgentGRPOConfig}[kind]
    try:
        cfg = (load_rollouts_config(config, overrides or []) if kind == "agent-rollouts"
               else load_config(cls, config, overrides or []))
    except ConfigError as e:
        raise _fail(e, 2) from None
    return cls, cfg


def _run(kind: str, config: Path | None, overrides: list[str] | None, dry_run: bool) -> None:
    cls, cfg = _load(kind, config, overrides)
    if dry_run:
        print_config(cls, cfg)
        return
    if kind == "agent-rollouts":
        from patchloop.rl.agentic.rollouts import run_from_config as run
    elif kind == "agent-rft":
        from patchloop.rl.agentic.rft import run_agent_rft as run
    elif kind == "agent-grpo":
        from patchloop.rl.agentic.grpo import run_agent_grpo as run
    else:
        from patchloop.rl.agentic.dpo import run_agent_dpo as run
    try:
        result = run(cfg)
    except (FileNotFoundError, ValueError) as e:
        raise _fail(e, 1) from None
    if kind == "agent-rollouts":
        typer.echo("rollouts: {resolved} of {rollouts} resolved on {tasks_resolved} of {tasks} tasks, masked {masked_text}; "
                   "model {model_s:.0f} s, sandbox {sandbox_s:.0f} s, grading {grade_s:.0f} s; in {output_dir}"
                   .format(**result))
    else:
        typer.echo(f"{kind}: model written to {result} (metrics: {Path(cfg.train.output_dir) / 'metrics.jsonl'})")


_COMMANDS = {
    "agent-rollouts": "Run the agent k times per task in parallel sandboxes, graded by the SWE harness (resumable).\n"
                      "Takes its own preset or an agent-rft/agent-dpo one (then it is that run's first stage).",
    "agent-rft": "Agentic RFT: roll out, keep the resolved trajectories, fine-tune on the model's own tokens (LoRA).",
    "agent-dpo": "Agentic DPO: roll out, pair a resolved with an unresolved trajectory of each task, train (LoRA).",
    "agent-grpo": "Multi-turn GRPO: the policy in training acts as the agent, k rollouts per task per step\n"
                  "in parallel sandboxes, rewarded by the harness (TRL GRPOTrainer, LoRA; resumable).",
}


def register(app: typer.Typer) -> None:
    """Add the agentic commands to ``patchloop train``."""
    for name, help in _COMMANDS.items():
        add_command(app, name, help, _run)
