"""Traps a newcomer fell into with `eval swe` and `eval validate`: unreadable rows left out of
the denominator, and reruns into the same run id with other settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from patchloop.evals.run import run_swe_eval
from patchloop.evals.settings_guard import SettingsMismatch
from patchloop.types import Prediction
from tests.evals.swe_helpers import builtin

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "repos"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "patchloop", "eval", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def _row(iid: str) -> dict:
    row = dict(builtin(iid).to_dict(), repo_path=str(EXAMPLES / iid.split("-")[0]))
    return {k: v for k, v in row.items() if k != "_dataset_dir"}


@pytest.fixture(params=["malformed", "no_fail_to_pass"])
def three_rows_one_broken(request, tmp_path):
    good = [json.dumps(_row(i)) for i in ("textkit-1", "intervals-1")]
    if request.param == "malformed":
        broken = '{"instance_id": "broken-1", '
    else:
        broken = json.dumps(dict(_row("vertools-1"), FAIL_TO_PASS=[]))
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join([good[0], broken, good[1]]) + "\n")
    return data


def test_an_unreadable_row_stays_in_the_denominator_of_eval_swe(three_rows_one_broken, tmp_path):
    out = cli("swe", "-d", str(three_rows_one_broken), "-p", "gold", "-r", "r", "--runs-dir", str(tmp_path),
              "--backend", "local", "--no-progress")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "resolved 2/3 (66.7%), 1 unreadable" in out.stdout
    assert "Traceback" not in out.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["submitted_instances"] == 3 and report["resolved_rate"] == round(2 / 3, 4)
    assert list(report["unreadable"]) == [f"{three_rows_one_broken}:2"]
    assert report["unreadable"][f"{three_rows_one_broken}:2"]  # with its reason


def test_eval_validate_agrees_on_the_same_file(three_rows_one_broken, tmp_path):
    out = cli("validate", "-d", str(three_rows_one_broken), "--runs-dir", str(tmp_path), "--backend", "local",
              "--no-progress")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "2/3 instances valid, 1 unreadable" in out.stdout


def test_a_rerun_into_the_same_run_id_with_another_timeout_is_refused(tmp_path):
    task = builtin("textkit-1")
    preds = {task.instance_id: Prediction(task.instance_id, task.patch, "m")}
    run_swe_eval([task], preds, tmp_path / "run", backend="local", timeout=120, progress=False)
    before = (tmp_path / "run" / "results.jsonl").read_text()
    with pytest.raises(SettingsMismatch, match=r"run was made with timeout 120, not 1: use another --run-id"):
        run_swe_eval([task], preds, tmp_path / "run", backend="local", timeout=1, progress=False)
    assert (tmp_path / "run" / "results.jsonl").read_text() == before
    again = run_swe_eval([task], preds, tmp_path / "run", backend="local", timeout=120, progress=False)
    assert again["resolved_ids"] == ["textkit-1"]  # the same settings resume


def test_eval_swe_names_the_setting_in_one_line(tmp_path):
    task = builtin("textkit-1")
    run_swe_eval([task], {task.instance_id: Prediction(task.instance_id, task.patch, "gold")}, tmp_path / "r",
                 backend="local", timeout=120, progress=False)
    out = cli("swe", "-d", "builtin", "-p", "gold", "-r", "r", "--runs-dir", str(tmp_path), "--backend", "local",
              "--timeout", "7", "--no-progress")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'r'} was made with timeout 120, not 7.0: use another --run-id, "
        "or the same settings to resume it"]
