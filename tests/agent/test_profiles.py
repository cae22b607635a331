"""Agent profiles: per-model settings from configs/agent/, overridden by what the user types,
and a bad profile refused in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from patchloop.agent.profiles import ProfileError, agent_config, available, load_profile


def test_every_shipped_profile_loads_and_the_small_models_have_one():
    assert {"qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"} <= set(available())
    for name in available():
        agent_config({}, set(), name)  # valid AgentConfig settings, no unknown keys


def test_a_profile_sets_defaults_and_options_given_win():
    cfg = agent_config({"max_steps": 30, "action_mode": "tools"}, set(), "qwen2.5-coder-0.5b-instruct")
    assert (cfg.action_mode, cfg.max_steps, cfg.completion_tokens) == ("text", 10, 512)
    cfg = agent_config({"max_steps": 20, "action_mode": "tools"}, {"max_steps"}, "qwen2.5-coder-0.5b-instruct")
    assert (cfg.action_mode, cfg.max_steps) == ("text", 20)


@pytest.mark.parametrize("text, why", [
    ("action_mod: text\n", "unknown setting(s) action_mod"),
    ("action_mode: shell\n", "action_mode: Input should be 'tools' or 'text'"),
    ("- text\n", "a profile is a mapping of agent settings, not list"),
    ("max_steps: [\n", "not readable as YAML"),
])
def test_a_bad_profile_is_one_line_naming_the_file(tmp_path, text, why):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as e:
        load_profile(str(path))
    assert str(e.value).startswith(f"{path}: {why}") and "\n" not in str(e.value)
    with pytest.raises(ProfileError, match="no such file, and not one of .*qwen2.5-coder-0.5b-instruct"):
        load_profile("qwen-nope")


def test_batch_takes_the_profile_and_records_it_in_the_run(tmp_path):
    """The run's fingerprint holds the settings the profile gave, so a rerun without the
    profile into the same --out is refused as another configuration."""
    out = tmp_path / "run"
    base = [sys.executable, "-m", "patchloop", "batch", "--dataset", "builtin", "--instances", "textkit-1",
            "--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1", "--out", str(out), "--backend", "local",
            "--max-steps", "3"]
    first = subprocess.run([*base, "--agent-profile", "qwen2.5-coder-0.5b-instruct"], capture_output=True, text=True,
                           timeout=300, check=False)
    run = (out / "run.json").read_text()
    assert '"action_mode": "text"' in run and '"max_steps": 3' in run, first.stderr[-2000:]
    again = subprocess.run(base, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    bad = subprocess.run([*base, "--agent-profile", "nope"], capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "patchloop batch: agent profile 'nope': no such file, and not one of "
        "qwen2.5-coder-0.5b-instruct, qwen2.5-coder-1.5b-instruct")
