"""``datagen clean`` end to end: PII, dedup and decontamination counted in the report and the
data card; the marker training checks, and the HumanEval check training can print."""

from __future__ import annotations

import json

import pytest

from patchloop.datagen.filters.clean import run_clean
from patchloop.datagen.filters.decontam import humaneval_path
from patchloop.datagen.filters.guard import NotDecontaminated, check_humaneval, require_decontaminated
from patchloop.evals.func.evaluate import load_func_problems
from patchloop.types import read_jsonl

HE12 = load_func_problems(humaneval_path())["HumanEval/12"]


def _task(tid, name="double_all", factor=2, **kw):
    return {"task_id": tid, "prompt": f'def {name}(xs):\n    """Multiply every number of xs by {factor}, '
            f'keeping the order of the list."""\n', "entry_point": name,
            "canonical_solution": f"    return [x * {factor} for x in xs]\n",
            "test": f"def check(candidate):\n    assert candidate([1]) == [{factor}]\n", "seed_licence": "MIT", **kw}


@pytest.fixture
def dataset(tmp_path):
    rows = [
        _task("keep-1"),
        _task("dup-of-1"),  # exact copy
        _task("keep-2", "triple_all", 3, seed_licence="Apache-2.0"),
        {**_task("he-copy", "longest"), "prompt": HE12.prompt, "canonical_solution": HE12.canonical_solution,
         "test": "def check(candidate):\n    assert candidate(['a']) == 'a'\n"},
        # PII in the docstring only: redacted, still verifies, kept
        {**_task("pii-ok", "scale_all", 5), "prompt": 'def scale_all(xs):\n    """Multiply by 5. Ask jane@corp-mail.io'
         ' about the order of the list."""\n'},
        # PII inside the expected value: the placeholder breaks the test, the task is dropped
        {"task_id": "pii-broken", "prompt": 'def host():\n    """Return the server address."""\n', "entry_point": "host",
         "canonical_solution": '    return "93.184.216.34"\n',
         "test": 'def check(candidate):\n    assert candidate().split(".")[0] == "93"\n'},
    ]
    src = tmp_path / "gen"
    src.mkdir()
    (src / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (src / "stats.json").write_text(json.dumps({"stage": "oss-instruct", "fingerprint": "abc",
                                                "yield": {"generated": 9, "parsed": 8, "executed": 8, "passed": 6,
                                                          "kept": 6}, "drops": {"no_code_block": 1}}))
    (src / "fingerprint.json").write_text(json.dumps({"settings": {"teacher": {"model": "openai:teacher-x"}}}))
    return src / "tasks.jsonl"


def test_clean_removes_counts_and_writes_a_card(tmp_path, dataset, grader):
    card = run_clean([dataset], tmp_path / "clean", grader=grader, name="demo")
    kept = read_jsonl(tmp_path / "clean" / "tasks.jsonl")
    assert [r["task_id"] for r in kept] == ["keep-1", "keep-2", "pii-ok"]
    assert "<EMAIL>" in kept[2]["prompt"]
    removed = {r["id"]: (r["stage"], r["reason"]) for r in read_jsonl(tmp_path / "clean" / "removed.jsonl")}
    assert removed == {"pii-broken": ("pii", "redaction_broke_task"), "dup-of-1": ("dedup", "exact"),
                       "he-copy": ("decontam", "substring:prompt")}
    c = card["cleaning"]
    assert c["pii"] == {"EMAIL": 1, "IP_ADDRESS": 1} and c["reverify_failed"] == 1
    assert (c["dedup"]["exact"], c["dedup"]["near"]) == (1, 0)
    he = c["decontamination"]["humaneval"]
    assert he["contaminated_before"] == 1 and he["contaminated_after"] == 0
    assert card["licences"] == {"MIT": 2, "Apache-2.0": 1} and card["teacher"] == "openai:teacher-x"
    assert card["stages"][0]["yield"]["generated"] == 9
    md = (tmp_path / "clean" / "card.md").read_text()
    assert "| oss-instruct | 9 | 8 | 8 | 6 | 6 |" in md and "1 tasks contaminated before, 0 after" in md
    assert json.loads((tmp_path / "clean" / "card.json").read_text())["tasks"] == 3


def test_training_guard_accepts_clean_output_and_refuses_the_rest(tmp_path, dataset, grader, capsys):
    with pytest.raises(NotDecontaminated, match="not decontaminated"):
        require_decontaminated(dataset)
    run_clean([dataset], tmp_path / "clean", grader=grader)
    assert require_decontaminated(tmp_path / "clean")["humaneval"]["contaminated_after"] == 0
    out = tmp_path / "clean" / "tasks.jsonl"
    out.write_text(out.read_text() + json.dumps(_task("smuggled", "other_fn", 7)) + "\n")
    with pytest.raises(NotDecontaminated, match="changed since it was decontaminated"):
        require_decontaminated(out)
    fig = check_humaneval(dataset)
    assert (fig["tasks"], fig["contaminated"]) == (6, 1) and fig["items"][0]["item"] == "HumanEval/12"
    assert "1 of 6 tasks contaminated by HumanEval" in capsys.readouterr().out


def test_clean_refuses_other_settings_into_the_same_output(tmp_path, dataset, grader):
    from patchloop.datagen.filters.dedup import DedupConfig
    from patchloop.datagen.instruct.stage import StageError

    run_clean([dataset], tmp_path / "clean", grader=grader)
    with pytest.raises(StageError, match="differs in dedup"):
        run_clean([dataset], tmp_path / "clean", grader=grader, dedup_cfg=DedupConfig(threshold=0.8))


def test_the_card_lists_each_stages_drops_even_when_stages_share_a_reason():
    from patchloop.datagen.filters.card import markdown

    stages = [{"stage": "oss-instruct", "yield": {}, "drops": {"failed_own_tests": 45, "no_tests": 10}},
              {"stage": "self-align-respond", "yield": {}, "drops": {"failed_own_tests": 34}}]
    md = markdown({"name": "d", "tasks": 1, "stages": stages})
    assert "- oss-instruct: failed_own_tests 45, no_tests 10" in md
    assert "- self-align-respond: failed_own_tests 34" in md


def test_the_built_in_swe_instances_are_decontaminated_against_by_default(tmp_path, grader):
    """A task whose prompt carries a built-in instance's issue text is removed unless the user
    turns the built-in set off; the card and marker name the set."""
    from patchloop.evals.datasets import load_tasks

    issue = load_tasks("builtin")[0].problem_statement
    src = tmp_path / "gen"
    src.mkdir()
    rows = [_task("keep-1"), {**_task("swe-copy", "fix_it", 4), "prompt": f'def fix_it(xs):\n    """{issue}"""\n'}]
    (src / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_clean([src / "tasks.jsonl"], tmp_path / "clean", grader=grader)
    removed = read_jsonl(tmp_path / "clean" / "removed.jsonl")
    assert [(r["id"], r["stage"], r["benchmark"]) for r in removed] == [("swe-copy", "decontam", "swe:builtin")]
    assert "swe:builtin" in require_decontaminated(tmp_path / "clean")["benchmarks"]
    run_clean([src / "tasks.jsonl"], tmp_path / "off", grader=grader, builtin_swe=False)
    assert [r["task_id"] for r in read_jsonl(tmp_path / "off" / "tasks.jsonl")] == ["keep-1", "swe-copy"]
