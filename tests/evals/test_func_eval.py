"""``eval func`` end to end on the built-in set: pass@k, bad input, resume, MBPP rows, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchloop.evals.func.evaluate import evaluate_function_samples, load_func_problems, to_function_task
from patchloop.types import read_jsonl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "func"


def test_builtin_set_scores_half_at_one_and_all_at_two(tmp_path):
    errors = []
    summary = evaluate_function_samples(EXAMPLES / "problems.jsonl", EXAMPLES / "samples.jsonl", out_dir=tmp_path,
                                        ks=[1, 2, 10], backend="local", on_error=errors.append)
    assert errors == []
    assert summary["problems"] == 10 and summary["samples"] == 20
    assert summary["pass@1"] == pytest.approx(0.5) and summary["pass@2"] == pytest.approx(1.0)
    assert "pass@10" not in summary  # k above the samples per task is undefined, not guessed
    per_task = read_jsonl(tmp_path / "per_task.jsonl")
    assert {r["task_id"]: (r["n"], r["c"]) for r in per_task}["builtin/8"] == (2, 1)
    assert json.loads((tmp_path / "summary.json").read_text())["statuses"] == {"FAIL": 10, "PASS": 10}


def test_bad_lines_are_reported_and_the_rest_is_graded(tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "builtin/4", "completion": "    return str(n)\\n"}\n'
                       "{not json\n"
                       '{"task_id": "no/such", "completion": "x"}\n'
                       '{"task_id": "builtin/4"}\n'
                       '{"task_id": "builtin/4", "solution": "def fizzbuzz(n):\\n    return \'Fizz\' * (n % 3 == 0) + '
                       '\'Buzz\' * (n % 5 == 0) or str(n)\\n"}\n')
    errors = []
    summary = evaluate_function_samples(EXAMPLES / "problems.jsonl", samples, backend="local", ks=[1],
                                        on_error=errors.append)
    text = "\n".join(map(str, errors))
    assert len(errors) == 3 and ":2:" in text and "unknown task_id" in text and "no completion" in text
    assert summary["samples"] == 2 and summary["statuses"] == {"FAIL": 1, "PASS": 1}


def test_rerun_resumes_without_grading_again(tmp_path):
    args = {"out_dir": tmp_path, "ks": [1], "backend": "local"}
    first = evaluate_function_samples(EXAMPLES / "problems.jsonl", EXAMPLES / "samples.jsonl", **args)
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    # Simulate a run killed after 5 samples, with a torn last line.
    (tmp_path / "results.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])
    second = evaluate_function_samples(EXAMPLES / "problems.jsonl", EXAMPLES / "samples.jsonl",
                                       on_error=lambda e: None, **args)
    assert second["pass@1"] == first["pass@1"]
    keys = [json.loads(x)["key"] for x in (tmp_path / "results.jsonl").read_text().splitlines()[:5]]
    regraded = [json.loads(x)["key"] for x in (tmp_path / "results.jsonl").read_text().splitlines()[6:]]
    assert len(regraded) == 15 and not set(keys) & set(regraded)


def test_mbpp_rows_get_a_prompt_and_entry_point():
    task = to_function_task({"task_id": 11, "text": "Remove a char.", "code": "...",
                             "test_list": ["assert remove_Occ(\"hello\",\"l\") == \"heo\""]})
    assert task.task_id == "11" and task.entry_point == "remove_Occ" and "Remove a char." in task.prompt


def test_bad_problem_rows_name_the_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"task_id": "a", "prompt": "def f():\\n", "entry_point": "f", "test": "x"}\n{"task_id": "b"}\n[1]\n')
    errors = []
    problems = load_func_problems(path, on_error=errors.append)
    assert list(problems) == ["a"] and len(errors) == 2 and f"{path}:2" in str(errors[0])


def test_cli_eval_func(tmp_path):
    from patchloop.cli import app

    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["eval", "func", "--dataset", str(EXAMPLES / "problems.jsonl"), "--samples",
                                   str(EXAMPLES / "samples.jsonl"), "--k", "1,2", "--backend", "local",
                                   "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "pass@1 50.0%" in res.output and "pass@2 100.0%" in res.output
    assert len(read_jsonl(out / "results.jsonl")) == 20


def test_two_workers_agree_with_one(tmp_path):
    rows = [json.loads(x) for x in (EXAMPLES / "samples.jsonl").read_text().splitlines()] * 4  # 80 samples: 3 batches
    one = evaluate_function_samples(EXAMPLES / "problems.jsonl", rows, ks=[1, 8], backend="local", workers=1)
    two = evaluate_function_samples(EXAMPLES / "problems.jsonl", rows, out_dir=tmp_path, ks=[1, 8], backend="local",
                                    workers=2)
    assert one == two and two["samples"] == 80 and two["pass@8"] == pytest.approx(1.0)
    assert len(read_jsonl(tmp_path / "results.jsonl")) == 80


def test_docker_backend_scores_the_builtin_set(docker_client, tmp_path):
    summary = evaluate_function_samples(EXAMPLES / "problems.jsonl", EXAMPLES / "samples.jsonl", out_dir=tmp_path,
                                        ks=[1, 2], backend="docker", meta={"temperature": 0.0})
    assert summary["pass@1"] == pytest.approx(0.5) and summary["pass@2"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "summary.json").read_text())["meta"] == {"temperature": 0.0}


def _sandbox_that_cannot_start(monkeypatch):
    import patchloop.sandbox as sandbox
    from patchloop.sandbox import SandboxError

    def refuse(*_a, **_k):
        raise SandboxError("images", "install mmdebstrap (apt-get install mmdebstrap) to build the base image offline")

    monkeypatch.setattr(sandbox, "open_sandbox", refuse)


def test_cli_refuses_to_sample_when_the_grader_cannot_start(tmp_path, monkeypatch):
    """With --model the grading sandbox is opened first: no 20-minute sampling pass ending in ERRORs."""
    from patchloop.cli import app

    _sandbox_that_cannot_start(monkeypatch)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["eval", "func", "--dataset", str(EXAMPLES / "problems.jsonl"), "--model",
                                   "no-such-model-is-loaded", "--backend", "docker", "--out", str(out), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert "grading sandbox does not start" in res.output and "mmdebstrap" in res.output
    assert "nothing was sampled" in res.output and not (out / "samples.jsonl").exists()


def test_cli_fails_when_samples_were_not_graded(tmp_path, monkeypatch):
    """Infrastructure errors count as failures in pass@k, so the command says so and exits 1."""
    from patchloop.cli import app

    _sandbox_that_cannot_start(monkeypatch)
    res = CliRunner().invoke(app, ["eval", "func", "--dataset", str(EXAMPLES / "problems.jsonl"), "--samples",
                                   str(EXAMPLES / "samples.jsonl"), "--k", "1", "--backend", "local",
                                   "--out", str(tmp_path / "run"), "--no-progress"])
    assert res.exit_code == 1, res.output
    assert "20 of 20 samples were not graded" in res.output and "mmdebstrap" in res.output
    assert "Rerun the same command" in res.output


def test_run_func_eval_returns_the_line_and_raises_one_line_errors(tmp_path):
    """The pipeline behind `eval func` is callable without the command: a result, or a typed error."""
    from patchloop.evals.func.run import FuncEvalError, ProblemsNotFound, run_func_eval

    result = run_func_eval(str(EXAMPLES / "problems.jsonl"), samples=EXAMPLES / "samples.jsonl", ks=[1, 2],
                           out=tmp_path / "run", backend="local", progress=False)
    assert result.exit_code == 0 and result.ungraded is None and "pass@2 100.0%" in result.line
    with pytest.raises(FuncEvalError, match="no such file"):
        run_func_eval(str(EXAMPLES / "problems.jsonl"), samples=tmp_path / "none.jsonl", ks=[1], out=tmp_path / "x")
    with pytest.raises(ProblemsNotFound):
        run_func_eval(str(tmp_path / "none.jsonl"), samples=EXAMPLES / "samples.jsonl", ks=[1], out=tmp_path / "x")
