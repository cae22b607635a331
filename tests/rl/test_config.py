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
