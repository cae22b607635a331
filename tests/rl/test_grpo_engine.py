"""GRPO sampling through the generation interface (TRL's public ``rollout_func``) on the tiny
model: the engine is handed the adapter of each optimiser step, so what it samples after a
step comes from the trained weights, and the trainer learns from the ids the engine sampled."""

from __future__ import annotations

import json

import pytest

from patchloop.llm.generation import GenRequest
from patchloop.rl.config import GRPORunConfig, load_config
from tests.rl.test_trainers import _assert_lora_moved_base_frozen, _snapshot, comment_task_dir  # noqa: F401

pytestmark = [pytest.mark.train, pytest.mark.slow]


def test_engine_rollouts_sync_the_adapter_each_step_and_train_on_its_samples(tiny_model, comment_task_dir, tmp_path):  # noqa: F811
    from patchloop.rl.grpo import build_trainer

    out = tmp_path / "grpo"
    cfg = load_config(GRPORunConfig, None, [
        f"model.name_or_path={tiny_model}", f"data.path={comment_task_dir}", f"train.output_dir={out}",
        "train.max_steps=2", "train.seed=0", "train.per_device_train_batch_size=16", "num_generations=8",
        "max_completion_length=3", "temperature=1.5", "reward.backend=local", "reward.partial_credit=false",
        "train.report_to=[]", "lora.enabled=true", "lora.r=4", "train.learning_rate=5e-2", "engine=hf"])
    trainer, _, reward = build_trainer(cfg)
    rollout, gen = trainer.rollout_func, trainer.rollout_engine
    sampled: list = []
    original = gen.generate
    gen.generate = lambda reqs, on_result=None: sampled.append(reqs) or original(reqs, on_result)
    before = _snapshot(trainer.model)
    try:
        trainer.train()
    finally:
        reward.close()
    steps = [s for s in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "reward" in s]
    assert len(steps) == 2 and len(sampled) == 2
    assert [r.adapter for r in sampled[0]] == [str(out / "engine-policy" / "step-0")] * 16
    assert {r.adapter for r in sampled[1]} == {str(out / "engine-policy" / "step-1")}
    assert all(s["time/sync_s"] > 0 for s in steps)
    # The engine samples in the trainer's arithmetic here (float32, the same weights), so the
    # importance ratios it logs sit at 1, at a temperature (1.5) where raw logits would not.
    assert all(s["sampling/logp_diff_max"] < 1e-3 and s["sampling/is_capped_share"] == 0 for s in steps)
    assert all(abs(s["sampling/is_ratio_mean"] - 1) < 1e-3 and s["sampling/kl_engine_train"] >= 0 for s in steps)
    _assert_lora_moved_base_frozen(trainer.model, before)

    # What the engine samples with the trained adapter is not what it sampled at the start.
    prompt = gen.render(trainer.train_dataset[0]["prompt"])
    trainer.model.save_pretrained(str(tmp_path / "now"))
    assert rollout._synced_step == 1
    start = gen.generate([GenRequest(prompt, max_tokens=12)])[0]
    now = gen.generate([GenRequest(prompt, max_tokens=12, adapter=str(tmp_path / "now"))])[0]
    assert start.token_ids != now.token_ids
    gen.close()
