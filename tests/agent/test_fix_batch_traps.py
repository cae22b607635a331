"""What `fix` and `batch` say when they cannot start or cannot read a row: which input is
missing, no promise of a saved run that never began, unreadable rows counted."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from patchloop.agent.fix import run_fix
from tests.agent.conftest import EXAMPLES, agent_config


def _fix(tmp_path, **kw) -> tuple[int, str]:
    out = io.StringIO()
    args = {"repo": str(EXAMPLES / "repos" / "textkit"), "issue": "x", "model_spec": "openai:m", **kw}
    code = run_fix(**args, base_url=None, cfg=agent_config(approve="auto"), apply=False, resume=None,
                   backend="local", console=Console(file=out, width=300))
    return code, out.getvalue()


@pytest.mark.parametrize("given, said", [
    ({"repo": None}, "needs --repo (the repository to fix)"),
    ({"repo": "/no/such/repo"}, "--repo /no/such/repo: no such directory"),
    ({"issue": ""}, "needs an issue (--issue TEXT or --issue-file FILE)"),
    ({"model_spec": None}, "needs --model"),
])
def test_fix_names_the_input_that_is_missing(tmp_path, monkeypatch, given, said):
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path / "cache"))
    code, text = _fix(tmp_path, **given)
    assert code == 2 and said in text and len(text.strip().splitlines()) == 1, text


def _cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATCHLOOP_CACHE": str(tmp_path / "cache")}
    env.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", "patchloop", *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env=env, check=False)


def test_a_fix_that_never_started_does_not_claim_a_saved_run(tmp_path):
    out = _cli(tmp_path, "fix", "--repo", str(EXAMPLES / "repos" / "textkit"), "--issue", "x", "--model", "openai:m",
               "--base-url", "http://127.0.0.1:9/v1", "--backend", "local", "--approve", "auto")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "cannot reach" in out.stdout and "the run so far is saved" not in out.stdout
    assert "nothing ran" in out.stdout


def test_batch_counts_an_unreadable_row_and_never_says_skipped_0(tmp_path):
    rows = (EXAMPLES / "swe" / "instances.jsonl").read_text().splitlines()[:1]
    data = tmp_path / "d.jsonl"
    data.write_text(rows[0] + "\n" + '{"instance_id": "half\n')
    out = _cli(tmp_path, "batch", "--dataset", str(data), "--backend", "local", "--model", "openai:m",
               "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "run"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"unreadable: {data}:2: invalid JSON" in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("done 0/2, errors 1, unreadable 1 (not run); predictions in ")
    assert "skipped" not in out.stderr
