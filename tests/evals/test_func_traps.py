"""`eval func` traps: a missing samples file, samples that name no problem, and reruns into
the same --out with other samples or grading settings."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from patchloop.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "func"
PROBLEMS = str(EXAMPLES / "problems.jsonl")


def func(*args: str):
    return CliRunner().invoke(app, ["eval", "func", "--dataset", PROBLEMS, "--k", "1", "--backend", "local",
                                    "--no-progress", *args])


def test_a_missing_samples_file_is_one_line(tmp_path):
    res = func("--samples", str(tmp_path / "MISSING.jsonl"), "--out", str(tmp_path / "run"))
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.output.strip().splitlines() == [f"error: --samples {tmp_path / 'MISSING.jsonl'}: no such file"]


def test_samples_that_name_no_problem_are_an_error_not_zero_problems(tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "nope/1", "completion": "    return 1\n"}) + "\n")
    res = func("--samples", str(samples), "--out", str(tmp_path / "run"))
    assert res.exit_code == 2, res.output
    assert "0 problems" not in res.output
    assert f"error: --samples {samples}: no sample names a problem of {PROBLEMS}" in res.output
    assert "unknown task_id" in res.output


def test_a_rerun_with_another_timeout_or_samples_file_is_refused(tmp_path):
    out = tmp_path / "run"
    assert func("--samples", str(EXAMPLES / "samples.jsonl"), "--out", str(out)).exit_code == 0
    summary = (out / "summary.json").read_text()
    assert json.loads(summary)["meta"]["grading"]["timeout_s"] == 5.0  # the grading settings are recorded
    res = func("--samples", str(EXAMPLES / "samples.jsonl"), "--out", str(out), "--timeout", "0.5")
    assert res.exit_code == 2 and f"{out} was made with timeout_s 5.0, not 0.5" in res.output
    other = tmp_path / "other.jsonl"
    other.write_text((EXAMPLES / "samples.jsonl").read_text())
    res = func("--samples", str(other), "--out", str(out))
    assert res.exit_code == 2 and "was made with samples" in res.output and str(other) in res.output
    assert (out / "summary.json").read_text() == summary  # nothing overwritten
    assert func("--samples", str(EXAMPLES / "samples.jsonl"), "--out", str(out)).exit_code == 0  # resumes


def test_unreadable_sample_rows_are_recorded_and_fail_the_run(tmp_path):
    samples = tmp_path / "s.jsonl"
    good = (EXAMPLES / "samples.jsonl").read_text().splitlines()
    samples.write_text("\n".join([*good[:2], "{torn", json.dumps({"task_id": "nope/1", "completion": "x"})]) + "\n")
    res = func("--samples", str(samples), "--out", str(tmp_path / "run"))
    assert res.exit_code == 1, res.output
    assert "2 unreadable rows (in summary.json)" in res.output
    unreadable = json.loads((tmp_path / "run" / "summary.json").read_text())["unreadable"]
    assert f"{samples}:3" in unreadable and any("unknown task_id" in why for why in unreadable.values())
