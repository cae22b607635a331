"""A training run that would resume a checkpoint refuses another config, naming the setting;
more steps or a wall-clock budget may change, and a run with nothing to resume is free."""

from __future__ import annotations

import pytest

from patchloop.rl.config import ConfigError, SFTRunConfig, dump_config


def _cfg(out, **train) -> SFTRunConfig:
    return SFTRunConfig.model_validate({"train": {"output_dir": str(out), **train}})


def test_a_resumed_run_with_another_learning_rate_is_refused(tmp_path):
    dump_config(_cfg(tmp_path, learning_rate=1e-4), tmp_path / "config.yaml")
    (tmp_path / "checkpoint-5").mkdir()
    with pytest.raises(ConfigError, match=r"train.learning_rate 0.0001, not 0.001"):
        dump_config(_cfg(tmp_path, learning_rate=1e-3), tmp_path / "config.yaml")
    assert "learning_rate: 0.0001" in (tmp_path / "config.yaml").read_text()
    dump_config(_cfg(tmp_path, learning_rate=1e-4, max_steps=40), tmp_path / "config.yaml")  # longer: fine


def test_nothing_to_resume_or_resume_off_writes_the_new_config(tmp_path):
    dump_config(_cfg(tmp_path, learning_rate=1e-4), tmp_path / "config.yaml")
    dump_config(_cfg(tmp_path, learning_rate=1e-3), tmp_path / "config.yaml")  # no checkpoint yet
    (tmp_path / "checkpoint-5").mkdir()
    dump_config(_cfg(tmp_path, learning_rate=1e-2, resume=False), tmp_path / "config.yaml")
    assert "learning_rate: 0.01" in (tmp_path / "config.yaml").read_text()
