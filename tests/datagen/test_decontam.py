"""Decontamination on a table of contaminated and clean items with known answers, against
the real HumanEval data, an SWE-style instance set and a held-out split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchloop.datagen.filters.decontam import (
    Decontaminator,
    heldout_benchmark,
    humaneval,
    humaneval_path,
    load_benchmarks,
    swe_benchmark,
)
from patchloop.evals.func.evaluate import load_func_problems
from patchloop.types import read_jsonl

SWE = Path(__file__).resolve().parents[2] / "examples" / "swe" / "instances.jsonl"
HE = load_func_problems(humaneval_path())
LONGEST = HE["HumanEval/12"]

CLEAN_TASK = {"task_id": "clean", "prompt": 'def calc(x):\n    """Return x times 3, then plus 7."""\n',
              "canonical_solution": "    return x * 3 + 7\n",
              "test": "def check(candidate):\n    assert candidate(1) == 10\n"}


def _reindent(text: str) -> str:
    return "\n".join("\t" + line.strip() for line in text.splitlines())


HUMANEVAL_CASES = [
    # (name, row, reason prefix or None, item)
    ("prompt_copied", {"task_id": "a", "prompt": LONGEST.prompt, "canonical_solution": "    return 1\n"},
     "substring:prompt", "HumanEval/12"),
    ("docstring_reindented", {"task_id": "b", "instruction": _reindent(LONGEST.prompt.split('"""')[1])},
     "substring:docstring", "HumanEval/12"),
    ("solution_copied", {"task_id": "c", "prompt": "def pick(xs):\n", "canonical_solution": LONGEST.canonical_solution
                         .replace("strings", "strings")}, "substring:solution", "HumanEval/12"),
    ("paraphrased", {"task_id": "d", "prompt": LONGEST.prompt.replace("Out of list of strings", "Given words")
                     .replace("return the longest one", "give back the longest")
                     .replace("Return None", "Give None") + LONGEST.canonical_solution.replace("maxlen", "m")},
     "ngram:13", "HumanEval/12"),
    ("clean_procedural", CLEAN_TASK, None, None),
    ("trivial_solution_is_no_evidence", {"task_id": "e", "prompt": "def plus(a, b):\n    \"\"\"Sum.\"\"\"\n",
                                         "canonical_solution": HE["HumanEval/53"].canonical_solution}, None, None),
]


@pytest.fixture(scope="module")
def he_only():
    return Decontaminator([humaneval()])


@pytest.mark.parametrize("name,row,reason,item", HUMANEVAL_CASES, ids=[c[0] for c in HUMANEVAL_CASES])
def test_humaneval_table(he_only, name, row, reason, item):
    res = he_only.run([row])
    if reason is None:
        assert res.kept == [row] and res.removed == []
    else:
        (removed,) = res.removed
        assert removed["reason"] == reason and removed["item"] == item and removed["benchmark"] == "humaneval"
        assert res.kept == []


def test_report_counts_by_benchmark_and_reason(he_only):
    rows = [c[1] for c in HUMANEVAL_CASES]
    rep = he_only.run(rows).report()
    assert rep["checked"] == 6 and rep["kept"] == 2 and rep["removed"] == 4
    assert rep["removed_by_benchmark"] == {"humaneval": {"substring": 3, "ngram": 1}}
    assert [i["id"] for i in rep["items"]] == ["a", "b", "c", "d"]
    assert rep["touching"]["humaneval"] >= 4


def test_swe_instances_problem_statements_and_patches(tmp_path):
    inst = read_jsonl(SWE)[0]
    bench = swe_benchmark(SWE)
    dec = Decontaminator([bench])
    copied = {"task_id": "s1", "instruction": "Fix this:\n" + inst["problem_statement"]}
    assert dec.run([copied]).removed[0]["reason"] == "substring:problem_statement"
    assert dec.run([CLEAN_TASK]).removed == []


def test_heldout_split_rows_are_removed(tmp_path):
    held = tmp_path / "heldout.jsonl"
    task = {"task_id": "gen/list/L3/abc", "prompt": 'def calc(xs):\n    """Sort xs descending, then keep the first '
            'three items, then reverse each string item in place."""\n', "entry_point": "calc",
            "test": "def check(candidate):\n    pass\n", "canonical_solution": "    return sorted(xs)[::-1][:3]\n"}
    held.write_text(json.dumps(task) + "\n")
    dec = Decontaminator(load_benchmarks(use_humaneval=False, heldout=[held]))
    leaked = {"task_id": "t", "prompt": task["prompt"].replace("xs", "xs"), "canonical_solution": "    return 0\n"}
    (removed,) = dec.run([leaked, CLEAN_TASK]).removed
    assert removed["id"] == "t" and removed["benchmark"] == "heldout:heldout.jsonl"
    assert heldout_benchmark(held).items[0].id == "gen/list/L3/abc"


def test_all_of_humaneval_is_contaminated_by_itself(he_only):
    rows = [{"task_id": t.task_id, "prompt": t.prompt, "canonical_solution": t.canonical_solution} for t in HE.values()]
    assert len(he_only.run(rows).removed) == 164
