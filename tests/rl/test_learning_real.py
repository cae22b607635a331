"""bench/learning_real.py: its plan gives every arm the same prompts and the same time, a rerun
with other settings is refused, its statistics are the ones the report names, and on the tiny
model one arm runs end to end into ``results.json`` (pass@1, SE, the time split), then resumes
with nothing left to do."""

from __future__ import annotations

import json
import math

import pytest

from bench import learning_real
from patchloop.demo.learning_bench import arm_figures, check_settings, goal, method_score, settings_of


def _overrides(line: str) -> dict[str, str]:
    return dict(w.split("=", 1) for w in line.split() if "=" in w and not w.startswith("--"))


def test_dry_run_plans_the_same_prompts_and_time_for_every_arm(tmp_path, capsys):
    out = tmp_path / "b"
    assert learning_real.main(["--out", str(out), "--arm-wall-s", "3600", "--sample-share", "0.25",
                               "--seeds", "0,1", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    arms = {x.split(":", 1)[0]: _overrides(x) for x in lines if "-m patchloop train" in x}
    assert list(arms) == [f"{m}-seed{s}" for m in ("grpo", "rft", "dpo") for s in (0, 1)]
    for name, o in arms.items():
        assert o["data.path"] == str(out / "tasks") and o["data.max_samples"] == "512"
        assert o["data.validation_size"] == "32" and o["train.output_dir"] == str(out / name)
        assert o["train.seed"] == name[-1] and o["model.name_or_path"] == "qwen2.5-coder-0.5b-instruct"
        total = float(o["train.max_wall_s"]) + float(o.get("sampling.max_wall_s", 0))
        assert total == 3600, f"{name} gets {total} s"
    assert arms["rft-seed1"]["sampling.max_wall_s"] == "900" and arms["rft-seed1"]["sampling.seed"] == "1"
    # the start model is measured on the validation split once, by the first arm
    assert [o["validation.before"] for o in arms.values()] == ["true"] + ["false"] * 5
    assert any("all 164 problems, greedy, chat prompt, 512 new tokens, batch 16" in x for x in lines)
    assert not out.exists(), "a dry run wrote something"


def test_a_rerun_with_other_settings_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "b"
    assert check_settings(out, settings_of(learning_real.parse(["--out", str(out)])), write=True) is None
    assert learning_real.main(["--out", str(out), "--methods", "grpo", "--seeds", "1", "--dry-run"]) == 0
    capsys.readouterr()
    assert learning_real.main(["--out", str(out), "--arm-wall-s", "60", "--pool", "64"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert "arm_wall_s 4500.0 -> 60.0" in err and "pool 512 -> 64" in err


def _cleaned_tasks(root, n=6):
    """A teacher stage's output as ``datagen clean`` leaves it: tasks, fingerprint, marker."""
    from patchloop.datagen.filters.guard import write_marker

    root.mkdir()
    (root / "fingerprint.json").write_text(json.dumps({"fingerprint": "f"}))
    rows = [{"task_id": f"oss-{i}", "prompt": f'def add_{i}(x):\n    """Return x plus {i}."""\n',
             "entry_point": f"add_{i}", "canonical_solution": f"    return x + {i}\n",
             "test": f"def check(candidate):\n    assert candidate(1) == {1 + i}\n"} for i in range(n)]
    (root / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_marker(root / "tasks.jsonl", {"benchmarks": ["humaneval"]})
    return root


def test_data_trains_every_arm_on_cleaned_teacher_tasks_and_refuses_others(tmp_path, capsys):
    """``--data`` replaces the procedural tasks in every arm's command; the data is part of the
    settings (other or edited data into the same OUT is refused), and data without the clean
    stage's marker stops the bench in one line before anything is trained."""
    data, out = _cleaned_tasks(tmp_path / "clean"), tmp_path / "b"
    args = learning_real.parse(["--out", str(out), "--data", str(data), "--validation", "2"])
    assert learning_real.make_tasks(args)["checked"] == 6
    assert "cleaned by `datagen clean` against humaneval" in capsys.readouterr().out
    assert learning_real.main(["--out", str(out), "--data", str(data), "--dry-run"]) == 0
    arms = [_overrides(x) for x in capsys.readouterr().out.splitlines() if "-m patchloop train" in x]
    assert len(arms) == 3 and {o["data.path"] for o in arms} == {str(data)}

    assert check_settings(out, settings_of(args), write=True) is None
    (data / "tasks.jsonl").write_text((data / "tasks.jsonl").read_text() + "\n")
    refusal = check_settings(out, settings_of(args), write=False)
    assert refusal and "data {'path'" in refusal
    with pytest.raises(SystemExit, match="changed since it was decontaminated"):
        learning_real.make_tasks(args)
    (data / "tasks.decontam.json").unlink()
    with pytest.raises(SystemExit, match="not decontaminated"):
        learning_real.make_tasks(args)


def test_bad_arguments_are_one_line():
    for bad in (["--methods", "grpo,ppo"], ["--sample-share", "1"], ["--seeds", "0,x"]):
        with pytest.raises(SystemExit):
            learning_real.parse(bad)


def test_the_change_and_its_error_are_paired_over_problems_and_seeds():
    start = {f"p{i}": i < 5 for i in range(10)}  # 50%
    one = {f"p{i}": i < 7 for i in range(10)}    # +2 problems, none lost
    two = {f"p{i}": i < 6 for i in range(10)}    # +1
    s = method_score(start, [one, two])
    assert s["pass@1"] == pytest.approx(0.65) and s["change"] == pytest.approx(0.15) and s["seeds"] == 2
    diffs = [0.0] * 5 + [1.0, 0.5] + [0.0] * 3
    seed_var = 0.005 / 2  # variance of (0.7, 0.6), over two seeds
    expected = math.sqrt((math.sqrt(sum((d - 0.15) ** 2 for d in diffs) / 9) / math.sqrt(10)) ** 2 + seed_var)
    assert s["change_se"] == pytest.approx(expected)
    assert method_score(start, [start])["change_se"] == 0.0


def test_goal_needs_five_points_two_errors_and_a_win_over_rft():
    base = {"change": 0.08, "change_se": 0.03, "pass@1": 0.70}
    g = goal({"grpo": base, "rft": {**base, "pass@1": 0.69}, "dpo": {**base, "change_se": 0.05}})
    assert g["met"] and g["per_method"]["grpo"]["met"]
    assert not g["per_method"]["rft"]["met"] and not g["per_method"]["dpo"]["checks"]["> 2 SE"]
    assert not goal({"grpo": base})["met"], "without an RFT arm nothing is shown to beat it"
    assert not goal({"grpo": {**base, "change": 0.04}, "rft": {**base, "pass@1": 0.5}})["met"]


def test_rft_time_split_and_diagnostics_come_from_its_logs(tmp_path):
    rec = {"task_id": "t", "generation_s": 2.0, "grading_s": 0.5,
           "samples": [{"completion": "abcd", "passed": True}, {"completion": "ab", "passed": False}]}
    (tmp_path / "samples.jsonl").write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "task_id": "u"}) + "\n")
    (tmp_path / "yield.json").write_text(json.dumps({"kept": 2}))
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}, {"step": 2, "train_runtime": 30.0})))
    f = arm_figures(tmp_path, "rft")
    assert f["time"] == {"generation_s": 4.0, "grading_s": 1.0, "optimisation_s": 30.0} and f["steps"] == 2
    d = f["diagnostics"]
    assert d["sample_pass_rate"] == 0.5 and d["completion_chars"] == 3 and d["kept"] == 2
    assert (d["loss_first"], d["loss_last"]) == (2.0, 1.0)


@pytest.mark.train
@pytest.mark.slow
def test_one_arm_on_the_tiny_model_end_to_end_then_resumes_with_nothing_to_do(tmp_path, capsys):
    out = tmp_path / "b"
    argv = ["--model", "tiny", "--out", str(out), "--methods", "grpo", "--arm-wall-s", "3", "--tasks", "40",
            "--pool", "8", "--validation", "4", "--humaneval-limit", "3", "--backend", "local"]
    assert learning_real.main(argv) == 0
    first = capsys.readouterr().out
    assert "decontamination: 0 of" in first
    res = json.loads((out / "results.json").read_text())
    assert res["problems"] == 3 and res["decontamination"]["contaminated"] == 0
    assert res["start"]["validation"] is not None
    arm = res["arms"]["grpo-seed0"]
    for key in ("pass@1", "se", "change", "change_se"):
        assert isinstance(arm[key], float)
    assert arm["steps"] >= 1 and arm["validation_after"] is not None
    assert arm["time"]["generation_s"] > 0 and arm["time"]["optimisation_s"] > 0 and "grading_s" in arm["time"]
    assert arm["time_per_step"]["step_s"] > 0
    assert set(arm["diagnostics"]) >= {"reward_std", "groups_kept", "clip_ratio", "kl", "completion_tokens"}
    assert res["methods"]["grpo"]["seeds"] == 1 and res["goal"]["met"] is False
    assert "goal (>= +5 points over the start, > 2 SE, above RFT at equal time): NOT met" in first
    assert "grpo-seed0 diagnostics:" in first

    assert learning_real.main(argv) == 0  # the same command again: every stage is skipped
    again = capsys.readouterr().out
    for name in ("tasks", "HumanEval: start", "train grpo-seed0", "HumanEval: grpo-seed0"):
        assert f"{name} (done earlier, skipped)" in again
    assert json.loads((out / "results.json").read_text())["arms"] == res["arms"]
