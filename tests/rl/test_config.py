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
