"""Agentic GRPO presets: the CPU one builds TRL's arguments here, the GPU one builds a GPU's
(vLLM colocated), both keep GRPO++'s settings; the policy must act, and the CLI resolves them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from patchloop.cli import app
from patchloop.rl.agentic.config import AgentGRPOConfig
from patchloop.rl.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def _grpo_plus_plus(args, cfg) -> None:
    assert args.beta == 0.0 and args.loss_type == "dr_grpo" and args.scale_rewards == "none"
    assert args.epsilon_high == 0.28 > args.epsilon and not args.mask_truncated_completions
    assert args.num_generations == cfg.num_generations and args.per_device_train_batch_size % cfg.num_generations == 0
    assert args.temperature == cfg.rollouts.temperature and args.max_completion_length == cfg.max_completion_length
    assert cfg.rollouts.mask_exit_reasons == ["max_steps", "context_full", "max_wall_s"]


def test_gpu_preset_builds_gpu_arguments_with_vllm_colocated(monkeypatch):
    import transformers.training_args as ta
    from trl import GRPOConfig

    from patchloop.rl.agentic.grpo import agent_grpo_args

    monkeypatch.setattr(ta, "is_torch_bf16_gpu_available", lambda: True)  # what a GPU would say
    cfg = load_config(AgentGRPOConfig, CONFIGS / "gpu-7b-agentic-grpo.yaml")
    args = agent_grpo_args(cfg, cuda=True)
    assert isinstance(args, GRPOConfig) and args.bf16 and not args.use_cpu and args.gradient_checkpointing
    assert args.use_vllm and args.vllm_mode == "colocate" and 0 < args.vllm_gpu_memory_utilization < 1
    assert not args.vllm_importance_sampling_correction  # the agent's logprobs are not vLLM's processed ones
    assert args.vllm_max_model_length == cfg.rollouts.agent.context_tokens == 32768
    _grpo_plus_plus(args, cfg)
    assert cfg.lora.enabled and cfg.model.dtype == "bfloat16" and cfg.rollouts.backend == "docker"
    with pytest.raises(ValueError, match="use_vllm needs a CUDA GPU"):
        agent_grpo_args(cfg, cuda=False)


@pytest.mark.parametrize("name", ["agentic-grpo-tiny.yaml", "agentic-grpo-qwen0.5b-cpu.yaml"])
def test_cpu_presets_build_on_this_cpu(name):
    from patchloop.rl.agentic.grpo import agent_grpo_args

    cfg = load_config(AgentGRPOConfig, CONFIGS / name)
    args = agent_grpo_args(cfg, cuda=False)
    assert args.use_cpu and not args.use_vllm and cfg.lora.enabled
    assert cfg.max_completion_length >= cfg.rollouts.agent.context_tokens  # a whole trajectory fits the normaliser
    _grpo_plus_plus(args, cfg)
    if "tiny" not in name:
        return
    with pytest.raises(ValueError, match=r"gradient_accumulation_steps \(4\) must be a multiple of num_generations \(3\)"):
        agent_grpo_args(cfg.model_copy(update={"num_generations": 3}), cuda=False)


def test_the_policy_in_training_must_be_the_one_that_acts():
    with pytest.raises(ConfigError, match="leave rollouts.model unset"):
        load_config(AgentGRPOConfig, None, ["rollouts.model=openai:qwen7b"])
    with pytest.raises(ConfigError, match="rollouts.executor must be 'local'"):
        load_config(AgentGRPOConfig, None, ["rollouts.executor=ray"])
    with pytest.raises(ConfigError, match="num_generations"):
        load_config(AgentGRPOConfig, None, ["num_generations=1"])


def test_cli_resolves_the_preset_and_flags_without_running():
    res = CliRunner().invoke(app, ["train", "agent-grpo", "-c", str(CONFIGS / "agentic-grpo-tiny.yaml"),
                                   "--num-generations", "2", "--rollouts.agent.max-steps", "5", "--dry-run"])
    assert res.exit_code == 0, res.output
    resolved = yaml.safe_load(res.stdout)
    assert resolved["num_generations"] == 2 and resolved["rollouts"]["agent"]["max_steps"] == 5
    bad = CliRunner().invoke(app, ["train", "agent-grpo", "--num-generatons", "2"])
    assert bad.exit_code == 2 and "did you mean num_generations" in bad.stderr
