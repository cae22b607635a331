"""What a user sees at the terminal: one line for a bad model or an unreachable endpoint,
-h and --version, approvals that show `[y]`/`[n]` and an edit as a diff."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from patchloop.agent.console import ask_approval
from tests.agent.conftest import EXAMPLES


def patchloop(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    env["PATCHLOOP_CACHE"] = str(tmp_path / "cache")
    return subprocess.run([sys.executable, "-m", "patchloop", *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env=env, check=False)


@pytest.mark.parametrize("model, extra, expected", [
    ("gpt-4", [], "patchloop fix: bad model spec 'gpt-4': use openai:NAME"),
    ("openai:m", ["--base-url", "http://127.0.0.1:9/v1"], "patchloop fix: cannot reach http://127.0.0.1:9/v1 (model m)"),
])
def test_a_bad_model_or_unreachable_endpoint_is_one_line(tmp_path, model, extra, expected):
    out = patchloop("fix", "--repo", str(EXAMPLES / "repos" / "textkit"), "--issue", "x", "--model", model, *extra,
                    "--backend", "local", "--approve", "auto", tmp_path=tmp_path)
    text = out.stdout + out.stderr
    assert out.returncode == 2 and "Traceback" not in text, text
    [line] = [ln for ln in out.stdout.splitlines() if ln.startswith("patchloop fix:")]
    assert line.startswith(expected), line


def test_h_and_version_are_accepted(tmp_path):
    for cmd in (["-h"], ["fix", "-h"], ["batch", "-h"], ["eval", "swe", "-h"]):
        out = patchloop(*cmd, tmp_path=tmp_path)
        assert out.returncode == 0 and "Usage" in out.stdout, (cmd, out.stderr)
    assert "takes them from the stopped run" in patchloop("fix", "-h", tmp_path=tmp_path).stdout
    version = patchloop("--version", tmp_path=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("patchloop 0.")


def test_help_is_not_cut_when_piped(tmp_path):
    for cmd in (["fix"], ["batch"], ["datagen", "functions"]):  # piped, no COLUMNS: rich would use 80 and cut
        out = patchloop(*cmd, "--help", tmp_path=tmp_path).stdout
        assert "Usage" in out and "…" not in out, cmd


def _approve(monkeypatch, req: dict, answer: str):
    monkeypatch.setattr("builtins.input", lambda *a: answer)
    buf = io.StringIO()
    result = ask_approval(Console(file=buf, width=120))(req)
    return result, buf.getvalue()


def test_the_approval_prompt_shows_its_keys(monkeypatch):
    result, text = _approve(monkeypatch, {"tool": "run", "args": {"command": "rm -rf build"}}, "n")
    assert result is False
    assert "[y]es / [n]o / or type a note for the model" in text and "rm -rf build" in text
    note, _ = _approve(monkeypatch, {"tool": "run", "args": {"command": "ls"}}, "use pytest -x instead")
    assert note == "use pytest -x instead"


def test_an_edit_is_approved_as_a_diff(monkeypatch):
    req = {"tool": "edit", "args": {"path": "textkit/trunc.py", "old": "    if len(text) < width:\n        return text",
                                    "new": "    if len(text) <= width:\n        return text"}}
    result, text = _approve(monkeypatch, req, "y")
    assert result is True
    assert "--- a/textkit/trunc.py" in text and "+++ b/textkit/trunc.py" in text
    assert "-    if len(text) < width:" in text and "+    if len(text) <= width:" in text
    assert '"old"' not in text and '"new"' not in text  # not the raw JSON arguments
