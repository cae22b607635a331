"""The real-model demo's pieces that need no model: its fixed HumanEval subset, its report,
and its refusals. The demo itself is measured in docs/benchmarks.md (it takes ~20 minutes)."""

from __future__ import annotations

import json
import subprocess
import sys

from patchloop.demo.real import humaneval_subset
from patchloop.demo.report import problem_rows, write_real_report


def test_the_subset_is_fixed_by_its_seed_and_in_task_order():
    a, b, c = humaneval_subset(40, 0), humaneval_subset(40, 0), humaneval_subset(40, 1)
    assert list(a) == list(b) and len(a) == 40 and len(set(a)) == 40
    assert list(a) != list(c)
    numbers = [int(t.split("/")[1]) for t in a]
    assert numbers == sorted(numbers)
    assert all(a[t].prompt and a[t].test for t in a)  # real problems, with their tests


def test_report_counts_gains_and_losses_and_inlines_its_pictures(tmp_path):
    before = {"HumanEval/0": True, "HumanEval/2": False, "HumanEval/5": False, "HumanEval/9": True}
    after = {"HumanEval/0": True, "HumanEval/2": True, "HumanEval/5": False, "HumanEval/9": False}
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": i, "loss": 2.0 - 0.1 * i}) + "\n" for i in range(1, 8)))
    figures = {"model": "qwen2.5-coder-0.5b-instruct", "problems": list(before),
               "pass@1": {"before": 0.5, "after RFT": 0.5}, "stage_s": {"rft": 61.0},
               "rft_yield": {"samples": 64, "passed": 20, "kept": 12, "prompts": 16}}
    html = write_real_report(tmp_path, figures, before, after, metrics).read_text()
    assert "Problems gained: 1; lost: 1." in html
    assert "qwen2.5-coder-0.5b-instruct" in html and "Real model" in html
    assert html.count("data:image/png;base64,") == 2  # before/after bars and the loss curve
    assert "64 samples, 20 passed, 12 kept from 16 prompts" in html
    rows = problem_rows(before, after)
    assert rows.index("HumanEval/2") < rows.index("HumanEval/0")  # changed problems first
    assert "gained" in rows and "lost" in rows


def test_a_model_that_is_neither_fetched_nor_a_checkpoint_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "patchloop", "demo", "--model", str(tmp_path / "nope"),
                        "--out", str(tmp_path / "d")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("error: demo:") and len(r.stderr.strip().splitlines()) == 1
    assert "neither a catalog model" in r.stderr
    assert not (tmp_path / "d" / "tasks").exists()  # refused before any stage ran


def test_the_demo_draws_only_families_that_exist():
    from patchloop.datagen.families import FAMILIES as KNOWN
    from patchloop.demo.real import FAMILIES

    assert FAMILIES and set(FAMILIES) <= set(KNOWN)


def test_per_problem_reads_the_graders_per_task_file(tmp_path):
    from patchloop.demo.real import per_problem

    (tmp_path / "per_task.jsonl").write_text('{"task_id": "HumanEval/1", "n": 1, "c": 1}\n\n'
                                             '{"task_id": "HumanEval/4", "n": 1, "c": 0}\n')
    assert per_problem(tmp_path) == {"HumanEval/1": True, "HumanEval/4": False}


def test_humaneval_pass_never_reports_ungraded_samples_as_a_pass_rate(tmp_path, monkeypatch):
    """A grading sandbox that failed counts every sample as a failure: that is refused, and a rerun
    grades again instead of reading the cached summary back."""
    import patchloop.evals.func.evaluate as func_eval
    import patchloop.rl.evaluate as evaluate
    from patchloop.demo.real import finished_humaneval, humaneval_pass

    graded = []

    def fake_grade(problems, samples, *, out_dir, **_kw):
        broken = not graded
        graded.append(broken)
        summary = {"samples": 2, "infra_errors": 2 if broken else 0, "pass@1": 0.0 if broken else 0.5}
        (out_dir / "summary.json").write_text(json.dumps(summary))
        return summary

    monkeypatch.setattr(evaluate, "sample_completions", lambda *a, **k: {})
    monkeypatch.setattr(func_eval, "evaluate_function_samples", fake_grade)
    out = tmp_path / "eval"
    out.mkdir()
    try:
        humaneval_pass("m", {"HumanEval/0": {}, "HumanEval/1": {}}, out, backend="docker", seed=0)
    except ValueError as e:
        assert "2 of 2 HumanEval samples were not graded" in str(e)
    else:
        raise AssertionError("ungraded samples were reported as a pass rate")
    assert finished_humaneval(out) is None
    assert humaneval_pass("m", {"HumanEval/0": {}, "HumanEval/1": {}}, out, backend="docker", seed=0)["pass@1"] == 0.5
    assert graded == [True, False] and finished_humaneval(out)["pass@1"] == 0.5
