"""bench/agentic_rl.py without running it: the split is by repository, the plan gives every
method the same tasks, rollouts and budget, and the statistics are what the report says."""

from __future__ import annotations

import json
import math

import pytest

from bench import agentic_rl
from patchloop.evals.datasets import BUILTIN, load_tasks
from patchloop.types import write_jsonl


def test_tasks_are_split_by_repository(tmp_path):
    train, held = agentic_rl.split_tasks(BUILTIN, 0.3, seed=0)
    assert train and held and not {t.repo for t in train} & {t.repo for t in held}
    tasks = load_tasks(BUILTIN)
    write_jsonl(tmp_path / "train.jsonl", tasks[:3])
    write_jsonl(tmp_path / "eval.jsonl", tasks[2:])  # one repository on both sides
    with pytest.raises(SystemExit, match="repositories in both splits: patchloop-examples/intervals"):
        agentic_rl.split_tasks(tmp_path, 0.3, seed=0)


def test_arguments_are_checked():
    with pytest.raises(SystemExit):
        agentic_rl.parse_args(["--tasks", "x", "--methods", "rft,ppo"])
    with pytest.raises(SystemExit):
        agentic_rl.parse_args(["--tasks", "x", "--samples", "0"])
    with pytest.raises(SystemExit):  # a GRPO group of one has no advantage
        agentic_rl.parse_args(["--tasks", "x", "--methods", "grpo", "--samples", "1"])
    assert agentic_rl.parse_args(["--tasks", "x", "--methods", "rft", "--samples", "1"]).samples == 1
    assert agentic_rl.parse_args(["--tasks", "x", "--methods", "dpo, rft"]).methods == ["dpo", "rft"]


def test_dry_run_plans_the_same_rollouts_and_budget_for_every_method(tmp_path, capsys):
    out = tmp_path / "bench"
    agentic_rl.main(["--tasks", str(BUILTIN), "--out", str(out), "--methods", "rft,dpo", "--train-tasks", "2",
                     "--eval-tasks", "1", "--samples", "3", "--arm-wall-s", "900", "--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    plan = [x.removeprefix("patchloop ") for x in lines if x.startswith("patchloop ")]
    assert [x.split()[:2] for x in plan] == [["batch", "--dataset"], ["eval", "swe"], ["train", "agent-rollouts"],
                                             ["train", "agent-rft"], ["batch", "--dataset"], ["eval", "swe"],
                                             ["train", "agent-dpo"], ["batch", "--dataset"], ["eval", "swe"]]
    shared = f"rollouts.output_dir={out / 'rollouts'}"
    rollouts, rft, dpo = plan[2], plan[3], plan[6]
    assert all(shared in c and "rollouts.samples_per_task=3" in c for c in (rollouts, rft, dpo))
    assert "train.max_wall_s=900" in rft and "train.max_wall_s=900" in dpo
    assert f"--model hf:{out / 'rft' / 'train'}" in plan[4] and "--max-steps 10" in plan[4]
    assert "--repo-map-tokens 600 --action-mode text" in plan[0]  # the rollouts' agent, not batch's defaults
    assert not out.exists()  # a dry run writes nothing


def _plan(argv: list[str], capsys) -> tuple[list[str], list[str]]:
    agentic_rl.main(["--tasks", str(BUILTIN), "--train-tasks", "2", "--eval-tasks", "1", "--dry-run", *argv])
    lines = capsys.readouterr().out.splitlines()
    return lines, [x.removeprefix("patchloop ") for x in lines if x.startswith("patchloop ")]


@pytest.mark.parametrize("k", [2, 3])
def test_grpo_groups_by_the_same_k_as_the_other_methods(tmp_path, k, capsys):
    from patchloop.rl.agentic.config import AgentGRPOConfig
    from patchloop.rl.agentic.grpo import agent_grpo_args
    from patchloop.rl.config import load_config

    lines, plan = _plan(["--out", str(tmp_path / "b"), "--methods", "rft,grpo", "--samples", str(k)], capsys)
    rft = next(c for c in plan if c.startswith("train agent-rft"))
    grpo = next(c for c in plan if c.startswith("train agent-grpo")).split()
    assert f"rollouts.samples_per_task={k}" in rft
    assert f"num_generations={k}" in grpo and not any(c.startswith("rollouts.samples_per_task=") for c in grpo)
    assert f"k={k} for every method" in "\n".join(lines) and f"grpo: num_generations={k}" in "\n".join(lines)
    # TRL's own check: a step's rollouts are whole groups of num_generations (4 of 3 would be refused)
    overrides = [c for c in grpo if "=" in c and not c.startswith("-")]
    cfg = load_config(AgentGRPOConfig, agentic_rl.CONFIGS / agentic_rl.PRESETS["grpo"], overrides)
    args = agent_grpo_args(cfg, cuda=False)
    assert args.num_generations == k and args.per_device_train_batch_size == k  # the preset's one task per step
    assert args.generation_batch_size % k == 0


def test_held_out_runs_are_greedy_for_the_start_model_and_every_arm(tmp_path, capsys):
    lines, plan = _plan(["--out", str(tmp_path / "b"), "--methods", "rft,dpo,grpo"], capsys)
    batches = [c for c in plan if c.startswith("batch ")]
    assert len(batches) == 4 and all(c.endswith("--temperature 0.0") and "--seed" not in c for c in batches)
    assert "held-out runs (start model and every arm): greedy (temperature 0)" in lines
    lines, plan = _plan(["--out", str(tmp_path / "b"), "--methods", "rft", "--eval-temperature", "0.7",
                         "--seed", "5"], capsys)
    batches = [c for c in plan if c.startswith("batch ")]
    assert len(batches) == 2 and all(c.endswith("--temperature 0.7 --seed 5") for c in batches)
    assert "held-out runs (start model and every arm): temperature 0.7, seed 5" in lines


def test_the_held_out_sampling_is_recorded_and_a_rerun_with_another_is_refused(tmp_path, capsys):
    argv = ["--tasks", str(BUILTIN), "--out", str(tmp_path), "--methods", "rft", "--train-tasks", "1",
            "--eval-tasks", "1"]
    agentic_rl.prepare(agentic_rl.parse_args(argv))
    assert json.loads((tmp_path / "bench.json").read_text())["heldout_sampling"] == {"temperature": 0.0}
    with pytest.raises(SystemExit, match="holds a run with other tasks or settings"):
        agentic_rl.prepare(agentic_rl.parse_args([*argv, "--eval-temperature", "0.7"]))


def test_paired_change_and_its_standard_error():
    ids = [f"t{i}" for i in range(8)]
    base = {"resolved_ids": ["t0", "t1"]}
    arm = {"resolved_ids": ["t0", "t1", "t2", "t3", "t4"]}
    c = agentic_rl.compare(base, arm, ids)
    assert (c["resolved"], c["n"], c["rate"]) == (5, 8, 5 / 8)
    assert c["se"] == pytest.approx(math.sqrt(5 / 8 * 3 / 8 / 8))
    diffs = [0, 0, 1, 1, 1, 0, 0, 0]
    sd = math.sqrt(sum((d - 3 / 8) ** 2 for d in diffs) / 7)
    assert c["change"] == pytest.approx(3 / 8) and c["change_se"] == pytest.approx(sd / math.sqrt(8))
    assert c["better"] is (3 / 8 > 2 * sd / math.sqrt(8))
    assert agentic_rl.compare(base, base, ids)["better"] is False
