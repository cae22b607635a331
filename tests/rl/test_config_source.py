"""A bad value given on the command line is reported against the command line, not the preset."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchloop.rl.config import ConfigError, SFTRunConfig, load_config

PRESET = Path(__file__).resolve().parents[2] / "configs" / "tiny-cpu-sft.yaml"


def test_a_bad_flag_value_names_the_command_line_not_the_yaml():
    with pytest.raises(ConfigError) as err:
        load_config(SFTRunConfig, PRESET, ["--max-steps", "abc"])
    assert str(err.value).startswith("command line: train.max_steps='abc': ")
    assert str(PRESET) not in str(err.value)


def test_a_bad_value_in_the_preset_still_names_the_preset(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  max_steps: abc\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: train\.max_steps: "):
        load_config(SFTRunConfig, bad, [])
