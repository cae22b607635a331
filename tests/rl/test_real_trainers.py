"""GRPO, RFT and DPO each take a real step on the real Qwen2.5-Coder-0.5B-Instruct (LoRA, a
few tokens per completion): the adapter moves and the base does not, in the dtype the model
runs in on this CPU. The prompt stops at ``x +``, so a sampled continuation either completes
``x + 1`` (passes) or something else (fails): both kinds appear, which each trainer needs."""

from __future__ import annotations

import pytest
from datasets import Dataset, DatasetDict

from patchloop.datagen.functions import hf_rows
from patchloop.rl.config import GRPORunConfig, load_config
from patchloop.rl.sample_config import DPORunConfig, RFTRunConfig
from patchloop.types import FunctionTask
from tests.rl.test_trainers import _assert_lora_moved_base_frozen, _snapshot

pytestmark = [pytest.mark.realmodel, pytest.mark.train, pytest.mark.slow]

PROMPT = "def calc(x):\n    return x +"
TEST = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n"


@pytest.fixture(scope="module")
def plus_one_tasks(tmp_path_factory):
    out = tmp_path_factory.mktemp("plus-one")
    tasks = [FunctionTask(f"p/{i}", PROMPT, "calc", TEST, "", {
        "family": "arith", "level": 1, "params": [], "seed": i,
        "cases": [{"args": [1], "expected": 2}, {"args": [5], "expected": 6}]}) for i in range(2)]
    DatasetDict({"rl": Dataset.from_list(hf_rows(tasks))}).save_to_disk(str(out / "hf"))
    return out


def _common(model, tasks, out):
    return [f"model.name_or_path={model}", f"data.path={tasks}", f"train.output_dir={out}", "train.report_to=[]",
            "train.max_steps=1", "train.seed=0", "lora.enabled=true", "lora.r=4", "train.learning_rate=1e-3"]


def _sampled(model, tasks, out):
    return [*_common(model, tasks, out), "sampling.num_samples=8", "sampling.max_new_tokens=4",
            "sampling.temperature=1.5", "sampling.prompts_per_batch=2", "grader.backend=local",
            "train.per_device_train_batch_size=2", "max_length=64", "validation.before=false",
            "data.validation_size=0", "data.prompt_format=completion"]


def test_a_grpo_step_moves_only_the_adapter(real_model_dir, plus_one_tasks, tmp_path):
    from patchloop.rl.grpo import build_trainer

    cfg = load_config(GRPORunConfig, None, [
        *_common(real_model_dir, plus_one_tasks, tmp_path / "grpo"), "train.per_device_train_batch_size=8",
        "num_generations=8", "max_completion_length=4", "temperature=1.5", "reward.backend=local",
        "reward.partial_credit=false"])
    trainer, _, reward = build_trainer(cfg)
    before = _snapshot(trainer.model)
    try:
        trainer.train()
    finally:
        reward.close()
    _assert_lora_moved_base_frozen(trainer.model, before)


def test_an_rft_step_moves_only_the_adapter(real_model_dir, plus_one_tasks, tmp_path):
    from patchloop.rl.rft import build_trainer

    trainer, _, stats = build_trainer(load_config(RFTRunConfig, None, _sampled(real_model_dir, plus_one_tasks,
                                                                               tmp_path / "rft")), progress=False)
    assert 0 < stats["passed"] < stats["samples"], stats  # the real model both passes and fails
    before = _snapshot(trainer.model)
    trainer.train()
    _assert_lora_moved_base_frozen(trainer.model, before)


def test_a_dpo_step_moves_only_the_adapter(real_model_dir, plus_one_tasks, tmp_path):
    from patchloop.rl.dpo import build_trainer

    trainer, _ = build_trainer(load_config(DPORunConfig, None, _sampled(real_model_dir, plus_one_tasks,
                                                                        tmp_path / "dpo")), progress=False)
    assert len(trainer.train_dataset) > 0
    before = _snapshot(trainer.model)
    trainer.train()
    _assert_lora_moved_base_frozen(trainer.model, before)
