"""Each teacher stage on a scripted teacher: yields, drops with reasons, resume, fingerprints."""

from __future__ import annotations

import json

import pytest

from patchloop.datagen.instruct.evol import EvolConfig, run_evol
from patchloop.datagen.instruct.oss_instruct import OssInstructConfig, run_oss_instruct
from patchloop.datagen.instruct.self_align import (
    SelfAlignConfig,
    run_concepts,
    run_instructions,
    run_responses,
)
from patchloop.datagen.instruct.self_instruct import SelfInstructConfig, run_self_instruct
from patchloop.datagen.instruct.stage import StageError, wall_time
from patchloop.datagen.instruct.teacher import LLMError, ScriptedTeacher
from patchloop.types import read_jsonl
from tests.datagen import teacher_replies as R
from tests.datagen.conftest import SEED_CODE


def cycling(replies):
    calls = []

    def answer(prompt, seed):
        calls.append(prompt)
        return replies[(len(calls) - 1) % len(replies)]
    return ScriptedTeacher(answer), calls


MIXED = [R.good("double_all"), R.NO_CODE, R.UNPARSABLE, R.WRONG, R.LOOP, R.bare_asserts("count_a")]


def test_oss_instruct_counts_every_drop_and_keeps_verified_tasks(tmp_path, seeds, grader):
    teacher, calls = cycling(MIXED)
    stats = run_oss_instruct(seeds, tmp_path / "oss", OssInstructConfig(n=6), teacher, grader, progress=False)
    assert stats["yield"] == {"generated": 6, "parsed": 4, "executed": 4, "passed": 2, "kept": 2}
    assert stats["drops"] == {"failed_own_tests": 1, "no_code_block": 1, "timeout": 1, "unparsable_solution": 1}
    rows = read_jsonl(tmp_path / "oss" / "tasks.jsonl")
    assert [r["entry_point"] for r in rows] == ["double_all", "count_a"]
    for r in rows:
        assert {"task_id", "prompt", "entry_point", "test", "canonical_solution"} <= set(r)
        assert r["seed_licence"] == "MIT" and r["seed_package"] == "pkg"
        lines = r["seed_snippet"].splitlines()
        assert 1 <= len(lines) <= 15 and r["seed_snippet"] in SEED_CODE
    assert all("```python" in p and "open-source project" in p for p in calls)


def test_a_killed_stage_resumes_item_by_item_with_the_same_output(tmp_path, seeds, grader):
    full, _ = cycling(MIXED)
    run_oss_instruct(seeds, tmp_path / "full", OssInstructConfig(n=6), full, grader, progress=False)

    replies = list(MIXED)

    def dies_at_four(prompt, seed):
        dies_at_four.n += 1
        if dies_at_four.n == 4:
            raise KeyboardInterrupt  # the run is killed while item 4 is with the teacher
        return replies[dies_at_four.n - 1]
    dies_at_four.n = 0
    with pytest.raises(KeyboardInterrupt):
        run_oss_instruct(seeds, tmp_path / "part", OssInstructConfig(n=6), ScriptedTeacher(dies_at_four), grader,
                         progress=False)
    assert len(read_jsonl(tmp_path / "part" / "log.jsonl")) == 3
    rest, calls = cycling(MIXED[3:])
    stats = run_oss_instruct(seeds, tmp_path / "part", OssInstructConfig(n=6), rest, grader, progress=False)
    assert len(calls) == 3  # only the items not yet logged were asked again
    assert stats["yield"]["kept"] == 2
    assert stats["runs"] == 2 and "untimed_items" not in stats  # the wall time counts both runs
    strip = lambda p: [{k: v for k, v in r.items()} for r in read_jsonl(p)]  # noqa: E731
    assert strip(tmp_path / "part" / "tasks.jsonl") == strip(tmp_path / "full" / "tasks.jsonl")


def test_a_resumed_stage_counts_the_wall_time_of_every_run():
    records = [{"run": 100.0, "at": 105.0}, {"run": 100.0, "at": 110.5}, {"run": 200.0, "at": 203.0},
               {"key": "logged before runs were stamped"}]
    assert wall_time(records) == {"wall_s": 13.5, "runs": 2, "untimed_items": 1}


def test_a_rerun_with_another_fingerprint_into_the_same_output_is_refused(tmp_path, seeds, grader):
    teacher, _ = cycling([R.good()])
    run_oss_instruct(seeds, tmp_path / "o", OssInstructConfig(n=1, seed=0), teacher, grader, progress=False)
    with pytest.raises(StageError, match="another recipe.*differs in config"):
        run_oss_instruct(seeds, tmp_path / "o", OssInstructConfig(n=1, seed=1), teacher, grader, progress=False)
    # more slots is the same recipe: the output grows
    assert run_oss_instruct(seeds, tmp_path / "o", OssInstructConfig(n=2), teacher, grader, progress=False)["items"] == 2
    other = ScriptedTeacher(lambda p, s: R.good(), name="other-model")
    with pytest.raises(StageError, match="differs in teacher"):
        run_oss_instruct(seeds, tmp_path / "o", OssInstructConfig(n=1, seed=0), other, grader, progress=False)
    seeds.write_text(seeds.read_text().replace("helper_", "aide_"))
    with pytest.raises(StageError, match="differs in inputs"):
        run_oss_instruct(seeds, tmp_path / "o", OssInstructConfig(n=1, seed=0), teacher, grader, progress=False)


def test_teacher_errors_leave_the_item_for_the_next_run_and_a_dead_teacher_stops(tmp_path, seeds, grader):
    flaky = iter([LLMError("HTTP 503"), R.good()])
    stats = run_oss_instruct(seeds, tmp_path / "f", OssInstructConfig(n=2),
                             ScriptedTeacher(lambda p, s: next(flaky)), grader, progress=False)
    assert stats["items"] == 1 and "HTTP 503" in stats["teacher_errors_this_run"][0]
    dead = ScriptedTeacher(lambda p, s: LLMError("cannot reach http://127.0.0.1:9/v1"))
    with pytest.raises(StageError, match="3 teacher failures in a row.*cannot reach"):
        run_oss_instruct(seeds, tmp_path / "f", OssInstructConfig(n=5), dead, grader, progress=False)


def test_self_instruct_drops_what_is_too_similar_to_seeds_or_kept_tasks(tmp_path, grader):
    seed_tasks = tmp_path / "seed_tasks.jsonl"
    seed_tasks.write_text(json.dumps({"task_id": "s0", "prompt": 'def f(s):\n    """Count the letter a in a '
                                      'string."""\n', "entry_point": "f", "test": "", "canonical_solution": ""}) + "\n")
    teacher, calls = cycling([R.good("double_all"), R.good("double_all"), R.bare_asserts(), R.good("scale", 5)])
    stats = run_self_instruct(seed_tasks, tmp_path / "si", SelfInstructConfig(n=4), teacher, grader, progress=False)
    assert stats["drops"] == {"too_similar": 2}
    assert [r["entry_point"] for r in read_jsonl(tmp_path / "si" / "tasks.jsonl")] == ["double_all", "scale"]
    assert "Count the letter a in a string." in calls[0]


def test_evol_keeps_each_verified_round_and_ends_a_chain_that_fails(tmp_path, grader):
    start = tmp_path / "start.jsonl"
    oss_row = {"task_id": "oss/1", "prompt": 'def inc(x):\n    """Add one."""\n', "entry_point": "inc",
               "canonical_solution": "    return x + 1\n", "test": "def check(candidate):\n    assert candidate(1) == 2\n",
               "seed_licence": "MIT"}
    start.write_text(json.dumps(oss_row) + "\n" + json.dumps({**oss_row, "task_id": "oss/2"}) + "\n")
    teacher, calls = cycling([R.good("inc_twice", 2), R.good("inc_thrice", 3), R.WRONG])
    stats = run_evol(start, tmp_path / "ev", EvolConfig(rounds=2), teacher, grader, progress=False)
    rows = read_jsonl(tmp_path / "ev" / "tasks.jsonl")
    # oss/1: two rounds verify; oss/2: its first evolution fails, the chain ends
    assert [r["task_id"] for r in rows] == ["oss/1/evol1", "oss/1/evol1/evol2"]
    assert len(rows[1]["evol_ops"]) == 2 and rows[1]["seed_licence"] == "MIT"
    assert stats["drops"] == {"chain_ended": 1, "failed_own_tests": 1}
    assert "Add one." in calls[0] and "return x + 1" in calls[0]


def test_self_align_three_stages_keep_one_passing_response_per_instruction(tmp_path, grader):
    fns = tmp_path / "fns.jsonl"
    fns.write_text("".join(json.dumps({"id": f"pkg==1:m.py:f{i}", "name": f"f{i}", "code": "def f(x):\n    ...",
                                       "package": "pkg", "version": "1", "licence": "BSD-3-Clause",
                                       "path": "m.py"}) + "\n" for i in range(2)))
    cfg = SelfAlignConfig(samples=3)
    concepts = ScriptedTeacher(lambda p, s: "list comprehension, arithmetic" if "f(x)" in p else "")
    run_concepts(fns, tmp_path / "c", cfg, concepts, progress=False)
    instr = ScriptedTeacher(lambda p, s: "### Problem\nWrite a function that doubles each number of a list.")
    run_instructions(tmp_path / "c" / "tasks.jsonl", tmp_path / "i", cfg, instr, progress=False)
    teacher, calls = cycling([R.WRONG, R.good("double_all"), R.good("double_too"),  # instruction 1
                              R.NO_CODE, R.LOOP, R.WRONG])  # instruction 2: nothing passes
    stats = run_responses(tmp_path / "i" / "tasks.jsonl", tmp_path / "r", cfg, teacher, grader, progress=False)
    rows = read_jsonl(tmp_path / "r" / "tasks.jsonl")
    assert [r["entry_point"] for r in rows] == ["double_all"]
    assert rows[0]["seed_licence"] == "BSD-3-Clause" and rows[0]["concepts"] == ["list comprehension", "arithmetic"]
    assert stats["yield"] == {"generated": 6, "parsed": 5, "executed": 5, "passed": 2, "kept": 1}
    assert stats["drops"]["no_response_passed"] == 1
    assert "doubles each number" in calls[0]
