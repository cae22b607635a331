"""Configs: YAML presets load, CLI overrides win, mistakes get one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.rl.config import ConfigError, GRPORunConfig, SFTRunConfig, dump_config, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name,cls", [("tiny-cpu-sft.yaml", SFTRunConfig), ("tiny-cpu-grpo.yaml", GRPORunConfig),
                                      ("gpu-7b-sft.yaml", SFTRunConfig), ("gpu-7b-grpo.yaml", GRPORunConfig)])
def test_shipped_presets_are_valid(name, cls):
    cfg = load_config(cls, CONFIGS / name)
    assert isinstance(cfg, cls)
    if name.startswith("gpu"):
        assert cfg.lora.enabled and cfg.train.bf16 and cfg.data.prompt_format == "chat"


def test_overrides_beat_the_yaml_and_are_typed(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("train: {learning_rate: 1.0e-3, max_steps: 10}\nnum_generations: 4\n")
    cfg = load_config(GRPORunConfig, p, ["train.learning_rate=2e-5", "lora.enabled=true", "lora.r=4",
                                         "--temperature=1.3", "data.levels=[2, 3]", "train.report_to=[]"])
    assert cfg.train.learning_rate == 2e-5 and cfg.train.max_steps == 10 and cfg.num_generations == 4
    assert cfg.lora.enabled is True and cfg.lora.r == 4 and cfg.temperature == 1.3
    assert cfg.data.levels == [2, 3] and cfg.train.report_to == []
    dump_config(cfg, tmp_path / "out" / "config.yaml")
    assert load_config(GRPORunConfig, tmp_path / "out" / "config.yaml") == cfg  # resolved config round-trips


@pytest.mark.parametrize("yaml_text,overrides,match", [
    ("train: {learning_rat: 1}\n", [], r"train\.learning_rat: Extra inputs"),
    ("num_generations: 1\n", [], "num_generations"),
    ("[1, 2]\n", [], "top level must be a mapping"),
    ("train: {seed: [\n", [], "not valid YAML"),
    ("", ["train.seed"], "expected KEY=VALUE"),
    ("", ["train.seed=abc"], r"train\.seed"),
    ("", ["train.seed=1", "train.seed.x=2"], "is not a section"),
])
def test_bad_config_is_one_clear_error(tmp_path, yaml_text, overrides, match):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml_text)
    with pytest.raises(ConfigError, match=match) as e:
        load_config(GRPORunConfig, p, overrides)
    assert "\n" not in str(e.value)


def test_every_field_has_a_docstring():
    from pydantic import BaseModel

    def walk(cls):
        for name, f in cls.model_fields.items():
            assert f.description, f"{cls.__name__}.{name} has no docstring"
            ann = f.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann)

    walk(SFTRunConfig)
    walk(GRPORunConfig)


def test_every_key_is_a_flag_in_every_common_form(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("train: {max_steps: 10, resume: true}\nlora: {enabled: false}\n")
    cfg = load_config(GRPORunConfig, p, [
        "--max-steps", "20", "--learning_rate", "3e-5", "--lora", "--no-resume", "--model", "models/m",
        "--dataset=runs/t", "--train.seed", "7", "--lora.r=4", "--temperature", "1.3",
        "--mask-truncated-completions", "false", "num_generations=4", "--levels", "[2, 3]"])
    assert cfg.train.max_steps == 20 and cfg.train.learning_rate == 3e-5 and cfg.train.seed == 7
    assert cfg.lora.enabled is True and cfg.lora.r == 4 and cfg.train.resume is False
    assert cfg.model.name_or_path == "models/m" and cfg.data.path == "runs/t" and cfg.data.levels == [2, 3]
    assert cfg.temperature == 1.3 and cfg.mask_truncated_completions is False and cfg.num_generations == 4
    # a yes/no flag does not swallow the KEY=VALUE after it
    assert load_config(GRPORunConfig, None, ["--lora", "train.seed=3"]).train.seed == 3


@pytest.mark.parametrize("args,match", [
    (["--max-step", "5"], r"unknown option 'max.step' \(did you mean train\.max_steps"),
    (["--bogus", "1"], "unknown option 'bogus'"),
    (["--max-steps"], "needs a value"),
    (["--no-max-steps"], "not a yes/no setting"),
])
def test_bad_flags_are_one_clear_error(args, match):
    with pytest.raises(ConfigError, match=match) as e:
        load_config(GRPORunConfig, None, args)
    assert "\n" not in str(e.value)


def test_cli_dry_run_prints_a_preset_that_loads_back(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from patchloop.cli import app

    out = CliRunner().invoke(app, ["train", "grpo", "-c", str(CONFIGS / "tiny-cpu-grpo.yaml"), "--max-steps", "3",
                                   "--lora", "--dry-run"])
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert "--max-steps (train.max_steps)" in out.stderr
    (tmp_path / "resolved.yaml").write_text(text)
    cfg = load_config(GRPORunConfig, tmp_path / "resolved.yaml")
    assert cfg.train.max_steps == 3 and cfg.lora.enabled and yaml.safe_load(text)["num_generations"] == 8
    bad = CliRunner().invoke(app, ["train", "sft", "--max-step", "3"])
    assert bad.exit_code == 2 and "did you mean train.max_steps" in bad.stderr


OFFLINE = [("qwen0.5b-cpu-rft.yaml", "rft"), ("qwen0.5b-cpu-dpo.yaml", "dpo"), ("gpu-7b-rft.yaml", "rft"),
           ("gpu-7b-dpo.yaml", "dpo")]


def _args(kind: str, cfg, cuda: bool):
    """The TRL arguments a trainer would be built with, for this machine or a GPU one."""
    from patchloop.rl.dpo import dpo_args
    from patchloop.rl.grpo import grpo_args
    from patchloop.rl.rft import as_sft_config
    from patchloop.rl.sft import sft_args

    return {"grpo": lambda: grpo_args(cfg, cuda), "dpo": lambda: dpo_args(cfg, cuda),
            "rft": lambda: sft_args(as_sft_config(cfg), cuda)}[kind]()


def _cls(kind: str):
    from patchloop.rl.sample_config import DPORunConfig, RFTRunConfig

    return {"grpo": GRPORunConfig, "rft": RFTRunConfig, "dpo": DPORunConfig}[kind]


@pytest.mark.parametrize("name,kind", [("gpu-7b-grpo.yaml", "grpo"), ("gpu-7b-rft.yaml", "rft"),
                                       ("gpu-7b-dpo.yaml", "dpo")])
def test_gpu_presets_build_gpu_trainer_arguments(name, kind, monkeypatch):
    """The arguments a GPU gets from each GPU preset, built on any machine: transformers only
    checks that the GPU can do bf16, which is what it is told here."""
    import transformers.training_args as ta

    monkeypatch.setattr(ta, "is_torch_bf16_gpu_available", lambda: True)
    cfg = load_config(_cls(kind), CONFIGS / name)
    args = _args(kind, cfg, cuda=True)
    assert args.bf16 and not args.use_cpu and args.gradient_checkpointing
    assert cfg.lora.enabled and cfg.model.dtype == "bfloat16" and cfg.data.prompt_format == "chat"
    assert cfg.data.validation_size > 0 and "humaneval" not in cfg.data.path.lower()
    if kind == "grpo":
        assert args.use_vllm and args.vllm_mode == "colocate" and 0 < args.vllm_gpu_memory_utilization < 1
        assert args.num_generations == cfg.num_generations and args.beta == cfg.beta
    elif kind == "dpo":
        assert args.beta == cfg.beta and args.loss_type == ["sigmoid"] and args.precompute_ref_log_probs
        assert args.max_length == cfg.max_length
    else:
        assert args.max_length == cfg.max_length and args.completion_only_loss and not args.packing
    if kind == "grpo":
        with pytest.raises(ValueError, match="use_vllm needs a CUDA GPU"):
            _args(kind, cfg, cuda=False)  # the same preset on a CPU says what to change


@pytest.mark.parametrize("kind", ["grpo", "rft", "dpo"])
def test_cpu_presets_fit_the_real_model_on_this_cpu(kind):
    cfg = load_config(_cls(kind), CONFIGS / f"qwen0.5b-cpu-{kind}.yaml")
    assert cfg.model.name_or_path == "qwen2.5-coder-0.5b-instruct" and cfg.model.dtype == "auto"
    assert cfg.train.bf16 is None  # follows the weights: bf16 only where the CPU has bf16 hardware
    assert cfg.lora.enabled and cfg.data.prompt_format == "chat" and cfg.data.validation_size > 0
    assert cfg.train.max_wall_s == 4500  # every arm gets the same wall-clock budget
    if kind == "grpo":
        assert cfg.max_completion_length <= 256 and cfg.num_generations <= 4 and not cfg.use_vllm
    else:
        s = cfg.sampling
        assert s.max_new_tokens <= 256 and s.num_samples <= 4 and s.stop_at_code_end and s.prompts_per_batch > 1
    args = _args(kind, cfg, cuda=False)
    assert args.use_cpu


@pytest.mark.parametrize("fast_bf16", [True, False])
def test_cpu_training_precision_follows_the_weights(fast_bf16, tmp_path, monkeypatch):
    """On an AVX2-only CPU bf16 is emulated (a forward pass measured 4.5x slower than float32),
    so ``dtype: auto`` loads a bf16 checkpoint in float32 there and mixed precision stays off."""
    from patchloop.llm import device
    from patchloop.rl.common import training_kwargs, weights_dtype

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text('{"dtype": "bfloat16"}')
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: fast_bf16)
    cfg = load_config(GRPORunConfig, CONFIGS / "qwen0.5b-cpu-grpo.yaml", [f"model.name_or_path={ckpt}"])
    assert weights_dtype(cfg.model, "cpu") == ("bfloat16" if fast_bf16 else "float32")
    assert training_kwargs(cfg.train, cuda=False, model=cfg.model)["bf16"] is fast_bf16
    forced = load_config(GRPORunConfig, CONFIGS / "qwen0.5b-cpu-grpo.yaml",
                         [f"model.name_or_path={ckpt}", "model.dtype=float32", "train.bf16=true"])
    assert weights_dtype(forced.model, "cpu") == "float32" and training_kwargs(forced.train, False, forced.model)["bf16"]


def test_offline_configs_document_every_field():
    from pydantic import BaseModel

    from patchloop.rl.sample_config import DPORunConfig, RFTRunConfig

    def walk(cls):
        for name, f in cls.model_fields.items():
            assert f.description, f"{cls.__name__}.{name} has no docstring"
            if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
                walk(f.annotation)

    walk(RFTRunConfig)
    walk(DPORunConfig)
    for name, kind in OFFLINE:
        assert isinstance(load_config(_cls(kind), CONFIGS / name), _cls(kind))
