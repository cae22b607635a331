"""GRPO on repair rows (``data.kind: repair``): the trainer's prompts are the rows' chats, each
reply is graded by the repair grader with the row's instance and targets, the engine stops a
reply where that grader stops reading, and held-out rows are never trained on."""

from __future__ import annotations

import json

import pytest

from patchloop.datagen.repos.repair_dataset import RepairDatasetConfig, make_repair_dataset
from patchloop.evals.extract import repair_settled
from patchloop.rl.config import GRPORunConfig, load_config
from patchloop.rl.repair_data import RepairDataError, repair_training_rows

pytestmark = [pytest.mark.train, pytest.mark.slow]


@pytest.fixture(scope="module")
def repair_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("repair-rows")
    make_repair_dataset(RepairDatasetConfig(heldout_packages=["ledger"], validation_fraction=0.0), ["builtin"], out,
                        backend="local", echo=lambda _: None)
    return out


def config(tiny_model, repair_dir, out, *extra):
    return load_config(GRPORunConfig, None, [
        f"model.name_or_path={tiny_model}", "data.kind=repair", f"data.path={repair_dir}", "data.prompt_format=chat",
        f"train.output_dir={out}", "train.max_steps=1", "train.per_device_train_batch_size=4", "num_generations=2",
        "max_completion_length=6", "reward.backend=local", "train.report_to=[]", "lora.enabled=true", "lora.r=4",
        "validation.before=false", *extra])


def test_grpo_samples_repair_chats_and_the_repair_grader_scores_them(tiny_model, repair_dir, tmp_path):
    from patchloop.rl.grpo import build_trainer

    cfg = config(tiny_model, repair_dir, tmp_path / "grpo", "engine=hf", "drop_zero_std_groups=true")
    trainer, _, reward = build_trainer(cfg)
    losses = []  # TRL's own loss, run only where some advantage is not zero
    parent = type(trainer).__mro__[1]
    original_loss = parent.compute_loss
    parent.compute_loss = lambda self, *a, **k: losses.append(1) or original_loss(self, *a, **k)
    sampled = []
    gen = trainer.rollout_engine
    original = gen.generate
    gen.generate = lambda reqs, on_result=None: sampled.append(reqs) or original(reqs, on_result)
    try:
        trainer.train()
    finally:
        parent.compute_loss = original_loss
        reward.close()
        gen.close()
    train_ids = {json.loads(line)["instance_id"] for line in (repair_dir / "train.jsonl").read_text().splitlines()}
    assert sampled and all(r.settled is repair_settled for r in sampled[0])
    graded = reward.last_results
    assert len(graded) == 4 and {g.instance_id for g in graded} <= train_ids
    # six tokens of a random tiny model are never a fenced function: each a fault with its reason, none a crash
    assert all(g.verdict in ("no_code", "empty_reply", "truncated") and g.reward == 0.0 for g in graded)
    steps = [s for s in map(json.loads, (tmp_path / "grpo" / "metrics.jsonl").read_text().splitlines())
             if "reward" in s]
    assert len(steps) == 1 and steps[0]["reward"] == 0.0
    assert losses == []  # every advantage zero: no forward or backward pass was spent on it


def test_heldout_rows_and_rows_held_back_for_validation_are_refused(tiny_model, repair_dir, tmp_path):
    from patchloop.rl.grpo import build_dataset

    with pytest.raises(RepairDataError, match="split 'heldout' is not a training split"):
        repair_training_rows(repair_dir, "heldout", seed=0)
    with pytest.raises(ValueError, match="data.validation_size=0"):
        build_dataset(config(tiny_model, repair_dir, tmp_path, "data.validation_size=2"))
    rows = build_dataset(config(tiny_model, repair_dir, tmp_path))
    assert {"prompt", "instance", "targets", "task_id"} <= set(rows.column_names) and len(rows) == 6
    assert all("ledger" not in json.loads(r["instance"]).get("repo", "") for r in rows)
