"""The wheelhouse's host python under an activated virtual environment.

With a venv active, the first ``python3`` and ``python3.X`` on ``PATH`` are the venv's, which
may have no pip; the README's first example then built no wheelhouse and found 0/8 instances
valid on a cold cache. Each test puts pip-less interpreters first on ``PATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from patchloop.sandbox import images
from patchloop.sandbox.host_python import host_pip_python

MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _has_pip(python: str) -> bool:
    return subprocess.run([python, "-c", "import pip"], capture_output=True).returncode == 0


@pytest.fixture
def pipless_first(tmp_path, monkeypatch):
    """A bin dir whose python3 and python3.X have no pip, first on PATH, as `activate` does."""
    pipless = tmp_path / "venv" / "bin"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    assert not _has_pip(str(pipless / "python3"))
    for name in (f"python{MINOR}", "python3"):
        if not (pipless / name).exists():
            (pipless / name).symlink_to(pipless / "python")
    monkeypatch.setenv("PATH", f"{pipless}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "venv"))
    monkeypatch.setattr(sys, "executable", str(pipless / "python3"))
    return pipless


def test_a_pip_less_venv_first_on_path_does_not_hide_a_python_with_pip(pipless_first):
    python = host_pip_python(MINOR)
    assert not python.startswith(str(pipless_first))
    assert _has_pip(python)


def test_wheelhouse_builds_on_a_cold_cache_with_a_pip_less_venv_active(pipless_first, tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path / "cold"))
    house = images.ensure_wheelhouse(["iniconfig==2.0.0"], minor=MINOR)
    assert [p.name for p in house.glob("*.whl")] == ["iniconfig-2.0.0-py3-none-any.whl"]


def test_no_python_with_pip_is_one_line_naming_those_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(images.SandboxError) as err:
        host_pip_python("2.7")
    assert "needs a host python2.7 with pip" in str(err.value) and "\n" not in str(err.value)
