"""Agentic presets load, the RFT and DPO presets can share one rollouts directory, the GPU
presets build valid TRL arguments for a GPU, and the CLI resolves configs without running."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from patchloop.cli import app
from patchloop.rl.agentic.config import AgentDPOConfig, AgentRFTConfig, load_rollouts_config
from patchloop.rl.agentic.rollouts import acting_spec, rollout_identity
from patchloop.rl.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


@pytest.mark.parametrize("size", ["qwen0.5b-cpu", "gpu-7b"])
def test_rft_and_dpo_presets_share_their_rollouts(size):
    name = "agentic-{}-qwen0.5b-cpu.yaml" if size == "qwen0.5b-cpu" else "gpu-7b-agentic-{}.yaml"
    rft = load_config(AgentRFTConfig, CONFIGS / name.format("rft"))
    dpo = load_config(AgentDPOConfig, CONFIGS / name.format("dpo"))
    assert rft.rollouts.directory(rft.train.output_dir) == dpo.rollouts.directory(dpo.train.output_dir)
    spec = acting_spec(rft.model, rft.rollouts)
    assert spec == acting_spec(dpo.model, dpo.rollouts)
    assert rollout_identity(rft.rollouts, spec) == rollout_identity(dpo.rollouts, spec)  # no settings clash
    assert rft.lora.enabled and dpo.lora.enabled and "eval" not in rft.rollouts.tasks


@pytest.mark.parametrize("kind", ["rft", "dpo"])
def test_gpu_presets_build_gpu_trainer_arguments(kind, monkeypatch):
    import transformers.training_args as ta
    from trl import DPOConfig, SFTConfig

    from patchloop.rl.agentic import rft
    from patchloop.rl.dpo import dpo_args
    from patchloop.rl.sft import sft_args

    monkeypatch.setattr(ta, "is_torch_bf16_gpu_available", lambda: True)  # what a GPU would say
    cls = AgentRFTConfig if kind == "rft" else AgentDPOConfig
    cfg = load_config(cls, CONFIGS / f"gpu-7b-agentic-{kind}.yaml")
    args = sft_args(rft.as_sft_config(cfg), cuda=True) if kind == "rft" else dpo_args(cfg, cuda=True)
    assert isinstance(args, SFTConfig if kind == "rft" else DPOConfig)
    assert args.bf16 and not args.use_cpu and args.gradient_checkpointing and args.max_length == cfg.max_length
    if kind == "rft":
        assert args.completion_only_loss and not args.packing
    else:
        assert args.beta == cfg.beta and args.loss_type == ["sigmoid"] and args.precompute_ref_log_probs
    r = cfg.rollouts
    assert r.model.startswith("openai:") and r.base_url and r.executor == "ray" and r.backend == "docker"
    assert cfg.max_length >= r.agent.context_tokens  # a whole trajectory segment fits one training row


def test_agent_rollouts_takes_an_rft_preset_as_its_first_stage(tmp_path):
    cfg = load_rollouts_config(CONFIGS / "agentic-rft-qwen0.5b-cpu.yaml", ["--samples-per-task", "2"])
    assert cfg.rollouts.output_dir == "runs/qwen0.5b-agent-rollouts" and cfg.rollouts.samples_per_task == 2
    preset = yaml.safe_load((CONFIGS / "agentic-dpo-qwen0.5b-cpu.yaml").read_text())
    del preset["rollouts"]["output_dir"]
    (tmp_path / "dpo.yaml").write_text(yaml.safe_dump(preset))
    assert load_rollouts_config(tmp_path / "dpo.yaml").rollouts.output_dir == "runs/qwen0.5b-agent-dpo/rollouts"
    res = CliRunner().invoke(app, ["train", "agent-rollouts", "-c", str(CONFIGS / "agentic-rft-qwen0.5b-cpu.yaml"),
                                   "--dry-run"])
    assert res.exit_code == 0, res.output
    assert yaml.safe_load(res.stdout)["rollouts"]["agent"]["action_mode"] == "text"


def test_bad_settings_are_one_line_errors():
    res = CliRunner().invoke(app, ["train", "agent-rft", "--samples-per-tsk", "2"])
    assert res.exit_code == 2 and "did you mean rollouts.samples_per_task" in res.stderr
    with pytest.raises(ConfigError, match="agent.approve must be 'auto'"):
        load_config(AgentRFTConfig, None, ["rollouts.agent.approve=ask"])
    with pytest.raises(ConfigError, match="rollouts.agent.max_stepz"):
        load_config(AgentDPOConfig, None, ["rollouts.agent.max_stepz=3"])
