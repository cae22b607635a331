"""Row selection for the trainers: level caps (scarce labels) and level shares (curriculum)."""

from __future__ import annotations

from patchloop.rl.data import select


def _rows():
    return [{"task_id": f"t/L{lv}/{i:03d}", "level": lv, "family": "arith"} for lv in (1, 2, 3) for i in range(50)]


def test_level_cap_keeps_the_same_few_tasks_whatever_the_seed():
    picked = [select(_rows(), level_caps={3: 5}, seed=s) for s in (0, 1)]
    for rows in picked:
        assert sum(r["level"] == 3 for r in rows) == 5
        assert sum(r["level"] == 2 for r in rows) == 50  # other levels untouched
    l3 = [sorted(r["task_id"] for r in rows if r["level"] == 3) for rows in picked]
    assert l3[0] == l3[1] == [f"t/L3/{i:03d}" for i in range(5)]
    assert [r["task_id"] for r in picked[0]] != [r["task_id"] for r in picked[1]]  # order is shuffled by seed


def test_level_weights_resample_after_the_cap():
    rows = select(_rows(), levels=[2, 3], level_caps={3: 4}, level_weights={2: 0.5, 3: 0.5}, max_samples=40)
    assert len(rows) == 40
    l3 = [r for r in rows if r["level"] == 3]
    assert len(l3) == 20 and len({r["task_id"] for r in l3}) == 4  # four tasks, cycled to their share


# Rows in the official layouts: HumanEval (openai_humaneval) and MBPP (original and sanitized).
HUMANEVAL = {"task_id": "HumanEval/0", "prompt": "from typing import List\n\n\ndef twice_all(xs: List[int]) -> List[int]:\n"
             "    \"\"\"Double every element.\"\"\"\n", "entry_point": "twice_all",
             "canonical_solution": "    return [2 * x for x in xs]\n",
             "test": "METADATA = {}\n\n\ndef check(candidate):\n    assert candidate([1, 2]) == [2, 4]\n"
                     "    assert candidate([]) == []\n"}
MBPP = {"task_id": 11, "text": "Write a python function to remove first and last occurrence of a given character.",
        "code": "def remove_Occ(s, ch):\n    i = s.find(ch)\n    s = s[:i] + s[i + 1:] if i >= 0 else s\n"
                "    j = s.rfind(ch)\n    return s[:j] + s[j + 1:] if j >= 0 else s\n",
        "test_list": ['assert remove_Occ("hello","l") == "heo"', 'assert remove_Occ("abcda","a") == "bcd"'],
        "test_setup_code": "", "challenge_test_list": []}
MBPP_SANITIZED = {"source_file": "x", "task_id": 12, "prompt": "Write a function to add two numbers.",
                  "code": "def add_nums(a, b):\n    return a + b\n", "test_imports": ["import math"],
                  "test_list": ["assert add_nums(1, 2) == 3", "assert math.isclose(add_nums(0.5, 0.25), 0.75)"]}


def test_official_humaneval_and_mbpp_files_train_and_reward(tmp_path):
    """A HumanEval or MBPP file is training data as it is: SFT rows from its solutions, GRPO rows
    whose columns the execution reward grades (the right answer 1, a wrong one 0)."""
    import json

    from patchloop.rl.data import grpo_rows, load_split, sft_rows
    from patchloop.rl.rewards import ExecutionReward

    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (HUMANEVAL, MBPP, MBPP_SANITIZED)) + "{broken\n")
    rows = list(load_split(path, "rl"))
    assert [r["task_id"] for r in rows] == ["HumanEval/0", "11", "12"]  # the broken line is skipped
    assert "Your code should pass these tests:" in rows[1]["prompt"] and 'remove_Occ("hello"' in rows[1]["prompt"]
    assert [r["entry_point"] for r in rows] == ["twice_all", "remove_Occ", "add_nums"]
    sft = sft_rows(rows, "completion")
    assert sft[1]["completion"] == MBPP["code"] and sft[0]["completion"] == HUMANEVAL["canonical_solution"]

    grpo = grpo_rows(rows, "completion")
    cols = {k: [r[k] for r in grpo] * 2 for k in grpo[0] if k != "prompt"}
    right = [HUMANEVAL["canonical_solution"], MBPP["code"], MBPP_SANITIZED["code"]]
    wrong = ["    return xs\n", "def remove_Occ(s, ch):\n    return s\n", "def add_nums(a, b):\n    return a - b\n"]
    reward = ExecutionReward(partial=False, backend="local")
    try:
        out = reward([r["prompt"] for r in grpo] * 2, right + wrong, **cols)
        # raw MBPP columns as TRL passes them from a user's own dataset (no entry_point column)
        raw = reward(["Write remove_Occ."] * 2, [MBPP["code"], wrong[1]], task_id=["11", "11"],
                     test_list=[MBPP["test_list"]] * 2, code=[MBPP["code"]] * 2)
    finally:
        reward.close()
    assert out == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert raw == [1.0, 0.0]


def test_validation_tasks_are_held_back_from_training_and_fixed_by_the_split(task_dir):
    from patchloop.rl.config import DataSettings
    from patchloop.rl.data import load_split, training_rows, validation_rows

    data = DataSettings(path=str(task_dir), split="rl", validation_size=3)
    held = {r["task_id"] for r in validation_rows(load_split(task_dir, "rl"), 3)}
    assert len(held) == 3
    for seed in (0, 1):
        train = {r["task_id"] for r in training_rows(data, "rl", seed)}
        assert train and not train & held and len(train) == 8 - 3
    assert {r["task_id"] for r in validation_rows(list(reversed(load_split(task_dir, "rl").to_list())), 3)} == held


def test_humaneval_is_never_training_or_validation_data(tmp_path):
    import json

    import pytest

    from patchloop.rl.config import DataSettings
    from patchloop.rl.data import DataError, training_rows
    from patchloop.rl.validation import held_back

    he = tmp_path / "HumanEval.jsonl"
    he.write_text(json.dumps({"task_id": "HumanEval/0", "prompt": "def f(x):\n", "entry_point": "f",
                              "canonical_solution": "    return x\n",
                              "test": "def check(candidate):\n    assert candidate(1) == 1\n"}) + "\n")
    data = DataSettings(path=str(he), split="rl", validation_size=1)
    with pytest.raises(DataError, match="HumanEval/0 is HumanEval, which is only ever a test"):
        training_rows(data, "rl", 0)
    with pytest.raises(DataError, match="only ever a test"):
        held_back(data, "rl")


def test_training_data_is_checked_against_humaneval_and_contaminated_rows_refused(capsys):
    """A HumanEval prompt under another task id is caught by content, not by its id."""
    import pytest

    from patchloop.datagen.filters.decontam import humaneval
    from patchloop.rl.data import DataError, refuse_humaneval_overlap

    he = humaneval().items[0]
    clean = [{"task_id": "arith/1", "prompt": "def add_three(x):\n    \"\"\"Return x + 3.\"\"\"\n",
              "canonical_solution": "    return x + 3\n", "entry_point": "add_three"}]
    assert refuse_humaneval_overlap(clean, "mine:rl")["contaminated"] == 0
    assert "decontamination mine:rl: 0 of 1 tasks contaminated by HumanEval" in capsys.readouterr().err
    copied = clean + [{"task_id": "mine/7", "prompt": he.text, "canonical_solution": "    pass\n", "entry_point": "f"}]
    with pytest.raises(DataError, match=r"mine:rl: 1 tasks contaminated by HumanEval \(e\.g\. mine/7"):
        refuse_humaneval_overlap(copied, "mine:rl")


def test_teacher_tasks_train_only_after_datagen_clean(tmp_path):
    """A teacher stage's output (its directory has the stage's fingerprint.json) is refused for
    training and validation until ``datagen clean`` has marked it, and again once the file is
    edited; with the marker its tasks load, from the directory or the file."""
    import json

    import pytest

    from patchloop.datagen.filters.guard import write_marker
    from patchloop.rl.config import DataSettings
    from patchloop.rl.data import DataError, training_rows
    from patchloop.rl.validation import held_back

    out = tmp_path / "clean"
    out.mkdir()
    (out / "fingerprint.json").write_text(json.dumps({"fingerprint": "abc"}))
    tasks = out / "tasks.jsonl"
    rows = [{"task_id": f"oss-{i}", "prompt": f"def add_{i}(x):\n    \"\"\"Return x plus {i}.\"\"\"\n",
             "entry_point": f"add_{i}", "canonical_solution": f"    return x + {i}\n",
             "test": f"def check(candidate):\n    assert candidate(1) == {1 + i}\n"} for i in range(4)]
    tasks.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = DataSettings(path=str(out), split="rl", validation_size=1)
    with pytest.raises(DataError, match="not decontaminated .*run `patchloop datagen clean`"):
        training_rows(data, "rl", 0)
    with pytest.raises(DataError, match="not decontaminated"):
        held_back(data, "rl")

    write_marker(tasks, {"fingerprint": "abc", "benchmarks": ["swe:builtin"]})  # datagen clean --no-humaneval
    with pytest.raises(DataError, match="cleaned without HumanEval decontamination"):
        training_rows(data, "rl", 0)
    write_marker(tasks, {"fingerprint": "abc", "benchmarks": ["humaneval"]})
    train = {r["task_id"] for r in training_rows(data, "rl", 0)}
    held = {r["task_id"] for r in held_back(data, "rl")[0]}
    assert len(train) == 3 and len(held) == 1 and train | held == {r["task_id"] for r in rows}
    as_file = DataSettings(path=str(tasks), split="rl")
    assert len(training_rows(as_file, "rl", 0)) == 4

    tasks.write_text(tasks.read_text() + json.dumps({**rows[0], "task_id": "oss-9"}) + "\n")
    with pytest.raises(DataError, match="changed since it was decontaminated"):
        training_rows(data, "rl", 0)
