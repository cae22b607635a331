"""``quiet_env``, which the CLI and every bench script call first, keeps transformers' loading
bar out of the terminal and the logs; without it the bar is drawn (the control)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from patchloop.llm.quiet import ENV_DEFAULTS

LOAD = """
import sys
if sys.argv[1] == "quiet":
    from patchloop.llm.quiet import quiet_env
    quiet_env()
from transformers import AutoModelForCausalLM
AutoModelForCausalLM.from_pretrained(sys.argv[2])
print("loaded")
"""


def _load(mode: str, model_dir) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ENV_DEFAULTS}
    return subprocess.run([sys.executable, "-c", LOAD, mode, str(model_dir)], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("mode", ["quiet", "loud"])
def test_loading_bar_is_drawn_only_without_quiet_env(mode, tiny_model_dir):
    r = _load(mode, tiny_model_dir)
    assert r.returncode == 0 and "loaded" in r.stdout, r.stderr[-1500:]
    assert ("Loading weights" in r.stderr) == (mode == "loud"), r.stderr[-1500:]


def test_a_users_own_setting_is_kept(monkeypatch):
    from patchloop.llm.quiet import quiet_env

    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    quiet_env()
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "info" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
