"""Runs, resume keys, validation and reports, through the real CLI where a user would use it."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from patchloop.evals.datasets import load_predictions, load_tasks
from patchloop.evals.run import run_swe_eval
from patchloop.types import Prediction
from tests.evals.swe_helpers import builtin, make_patch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "repos"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "patchloop", "eval", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_changed_patch_under_an_old_run_id_is_evaluated_again(tmp_path):
    task = builtin("textkit-1")
    run = tmp_path / "run"
    first = run_swe_eval([task], {task.instance_id: Prediction(task.instance_id, task.patch)}, run,
                         backend="local", progress=False)
    assert first["resolved_ids"] == ["textkit-1"]
    broken = make_patch(task, {"textkit/wrap.py": ("if current:\n        lines.append", "if 0:\n        lines.append")},
                        gold=True)
    second = run_swe_eval([task], {task.instance_id: Prediction(task.instance_id, broken)}, run,
                          backend="local", progress=False)
    assert second["unresolved_ids"] == ["textkit-1"]
    again = run_swe_eval([task], {task.instance_id: Prediction(task.instance_id, broken)}, run,
                         backend="local", progress=False)
    assert again == second
    assert [r["verdict"] for r in _lines(run / "results.jsonl")] == ["resolved", "unresolved"]


def test_infrastructure_errors_are_retried_on_resume_and_model_outcomes_kept(tmp_path):
    rows = [dict(builtin("textkit-1").to_dict(), repo_path=str(tmp_path / "later" / "textkit")),
            dict(builtin("intervals-1").to_dict(), repo_path=str(EXAMPLES / "intervals"))]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "_dataset_dir"}) + "\n" for r in rows))
    tasks = load_tasks(data)
    preds = load_predictions("gold", tasks)
    first = run_swe_eval(tasks, preds, tmp_path / "run", backend="local", progress=False)
    assert first["error_ids"] == ["textkit-1"] and first["resolved_ids"] == ["intervals-1"]
    assert "repo_path" in first["reasons"]["textkit-1"]
    shutil.copytree(EXAMPLES / "textkit", tmp_path / "later" / "textkit")  # the infrastructure is back
    second = run_swe_eval(tasks, preds, tmp_path / "run", backend="local", progress=False)
    assert second["resolved_ids"] == ["intervals-1", "textkit-1"] and second["error_ids"] == []
    # one worker finishes in order: the error, the kept outcome, then only the retried error
    assert [(r["instance_id"], r["verdict"]) for r in _lines(tmp_path / "run" / "results.jsonl")] == \
        [("textkit-1", "error"), ("intervals-1", "resolved"), ("textkit-1", "resolved")]


def test_cli_reports_bad_lines_and_goes_on(tmp_path):
    tasks = load_tasks("builtin")[:2]
    pfile = tmp_path / "p.jsonl"
    pfile.write_text("\n".join([
        json.dumps({"instance_id": tasks[0].instance_id, "model_patch": tasks[0].patch, "model_name_or_path": "m"}),
        "{oops",
        json.dumps({"instance_id": "ghost", "model_patch": "x"}),
        json.dumps({"instance_id": tasks[1].instance_id, "model_patch": "", "model_name_or_path": "m"}),
    ]) + "\n")
    out = cli("swe", "-d", "builtin", "-p", str(pfile), "-r", "bad", "--runs-dir", str(tmp_path), "--backend",
              "local", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert f"{pfile}:2: invalid JSON" in out.stderr
    assert f"{pfile}:3: instance ghost: unknown instance_id 'ghost'" in out.stderr
    report = json.loads((tmp_path / "bad" / "report.json").read_text())
    assert report["resolved_ids"] == [tasks[0].instance_id]
    assert report["empty_patch_ids"] == [tasks[1].instance_id]
    assert report["submitted_instances"] == 2 and report["total_instances"] == 8
    assert list(report["unreadable_predictions"]) == [f"{pfile}:2", f"{pfile}:3"]  # left out, but on record
    assert "resolved 1/2" in out.stdout


def test_validate_builtin_instances_pass(tmp_path):
    out = cli("validate", "-d", "builtin", "--backend", "local", "--runs-dir", str(tmp_path), "--no-progress",
              "--workers", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "8/8 instances valid" in out.stdout


def test_validate_names_invalid_instances_and_fails(tmp_path):
    good = builtin("intervals-1").to_dict()
    passes_already = dict(builtin("textkit-1").to_dict(), instance_id="f2p-passes-before")
    passes_already["FAIL_TO_PASS"] = passes_already["FAIL_TO_PASS"] + ["tests/test_wrap.py::test_empty_text"]
    wrong_gold = dict(builtin("vertools-1").to_dict(), instance_id="gold-does-not-fix", patch=builtin("vertools-2").patch)
    data = tmp_path / "d.jsonl"
    rows = [dict(r, repo_path=r["repo_path"].replace("../repos/", "examples/repos/"))  # project-root relative
            for r in (good, passes_already, wrong_gold)]
    data.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "_dataset_dir"}) + "\n" for r in rows))
    out = cli("validate", "-d", str(data), "--backend", "local", "--runs-dir", str(tmp_path), "--no-progress")
    assert out.returncode == 1
    assert re.search(r"INVALID f2p-passes-before: 1 FAIL_TO_PASS test\(s\) already pass before the fix: "
                     r"tests/test_wrap.py::test_empty_text", out.stdout)
    assert "INVALID gold-does-not-fix: gold patch is unresolved" in out.stdout
    assert "intervals-1" not in out.stdout.replace("1/3", "")
    assert "1/3 instances valid" in out.stdout


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    tasks = load_tasks("builtin")[:3]
    run_swe_eval(tasks, load_predictions("gold", tasks), root / "gold", backend="local", progress=False)
    run_swe_eval(tasks, load_predictions("empty", tasks), root / "empty", backend="local", progress=False)
    return root


def test_html_report_embeds_charts_comparing_runs(two_runs):
    out_file = two_runs / "cmp.html"
    out = cli("report", str(two_runs / "gold"), str(two_runs / "empty"), "-o", str(out_file))
    assert out.returncode == 0, out.stderr
    page = out_file.read_text()
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pngs) == 3 and all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    assert "3 of 3 submitted resolved" in page and "0 of 3 submitted resolved" in page
    md = (two_runs / "gold" / "report.md").read_text()
    assert "Resolved **3 / 3**" in md


def test_report_of_a_dir_without_a_run_is_a_clear_error(tmp_path):
    out = cli("report", str(tmp_path))
    assert out.returncode != 0 and "no report.json" in out.stderr


def test_other_predictions_into_the_same_run_id_are_refused(tmp_path):
    args = ("-d", "builtin", "-r", "r1", "--runs-dir", str(tmp_path), "--backend", "local", "--no-progress")
    tasks = load_tasks("builtin")[:1]
    mine = tmp_path / "mine.jsonl"
    mine.write_text(json.dumps({"instance_id": tasks[0].instance_id, "model_patch": tasks[0].patch,
                                "model_name_or_path": "model-a"}) + "\n")
    assert cli("swe", "-p", str(mine), *args).returncode == 0
    before = (tmp_path / "r1" / "results.jsonl").read_text()
    theirs = tmp_path / "theirs.jsonl"
    theirs.write_text(mine.read_text().replace("model-a", "model-b"))
    out = cli("swe", "-p", str(theirs), *args)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{tmp_path / 'r1'} was made with predictions" in out.stderr and "model-b" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert (tmp_path / "r1" / "results.jsonl").read_text() == before  # nothing appended, report kept
    assert cli("swe", "-p", str(mine), *args).returncode == 0  # the same predictions resume


def test_a_row_without_base_commit_is_rejected_naming_it(tmp_path):
    rows = [dict(builtin(i).to_dict(), repo_path=str(EXAMPLES / i.split("-")[0])) for i in ("textkit-1", "intervals-1")]
    del rows[0]["base_commit"]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "_dataset_dir"}) + "\n" for r in rows))
    out = cli("swe", "-d", str(data), "-p", "gold", "-r", "r", "--runs-dir", str(tmp_path), "--backend", "local",
              "--no-progress")
    assert out.returncode == 1, out.stderr  # the rest of the dataset is graded; the row is counted
    [line] = [ln for ln in out.stderr.splitlines() if "base_commit" in ln]
    assert f"{data}:1: instance textkit-1: base_commit is missing" in line
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["resolved_ids"] == ["intervals-1"] and report["submitted_instances"] == 2
    assert "resolved 1/2 (50.0%), 1 unreadable" in out.stdout
