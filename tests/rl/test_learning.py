"""The training path learns: on a task the untrained tiny model provably fails (greedy and every
one of 16 samples score 0 with the grader), a few SFT steps make it pass. A trainer that
computes losses but never updates the weights the sampler uses fails this test."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, DatasetDict

from patchloop.datagen.functions import hf_rows
from patchloop.rl.config import SFTRunConfig, load_config
from patchloop.types import FunctionTask

pytestmark = [pytest.mark.train, pytest.mark.slow]

PROMPT = "def calc(x):\n    return"
TEST = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n"


def _pass_rates(model, tok, reward, row):
    """(greedy verdict, share of 16 samples at T=1 that pass), both graded by the reward."""
    from patchloop.rl.data import grpo_rows
    from patchloop.rl.sample_config import SamplingSettings
    from patchloop.rl.sampling import generate_groups, grade_groups

    rows = grpo_rows([row], "completion")
    s = SamplingSettings(max_new_tokens=8, temperature=1.0)
    greedy = generate_groups(model, tok, [PROMPT], s, "completion", seed=0, greedy=True)
    sampled = generate_groups(model, tok, [PROMPT], s, "completion", seed=1, num_samples=16)
    return (grade_groups(reward, rows, greedy, "completion")[0][0],
            sum(grade_groups(reward, rows, sampled, "completion")[0]) / 16)


def test_sft_makes_an_impossible_task_pass(tiny_model, tmp_path):
    from patchloop.rl.rewards import ExecutionReward
    from patchloop.rl.sft import build_trainer

    tasks = [FunctionTask(f"inc/{i}", PROMPT, "calc", TEST, " x + 1\n",
                          {"family": "arith", "level": 1, "params": [], "seed": i,
                           "cases": [{"args": [1], "expected": 2}, {"args": [5], "expected": 6}]}) for i in range(4)]
    DatasetDict({"sft": Dataset.from_list(hf_rows(tasks))}).save_to_disk(str(tmp_path / "tasks" / "hf"))
    cfg = load_config(SFTRunConfig, None, [
        f"model.name_or_path={tiny_model}", f"data.path={tmp_path / 'tasks'}", f"train.output_dir={tmp_path / 'run'}",
        "train.max_steps=60", "train.learning_rate=1e-2", "train.lr_scheduler_type=constant", "train.seed=0",
        "train.per_device_train_batch_size=4", "train.report_to=[]", "train.save_steps=1000", "max_length=64"])
    trainer, tok = build_trainer(cfg)
    reward = ExecutionReward(partial=False, backend="local")
    row = hf_rows(tasks)[0]
    try:
        assert _pass_rates(trainer.model, tok, reward, row) == (0.0, 0.0), "the start model already passes"
        trainer.train()
        greedy, sampled = _pass_rates(trainer.model, tok, reward, row)
    finally:
        reward.close()
    assert greedy == 1.0, "greedy decoding still fails after training"
    assert sampled >= 0.25
    losses = [r["loss"] for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
              if "loss" in r]
    assert losses[-1] < losses[0] / 3
