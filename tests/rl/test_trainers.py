"""TRL trainers on the offline tiny model, CPU only: LoRA learns while the base stays frozen
(the check TRL's own tests make), the CLI runs, and a killed run resumes from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from datasets import Dataset, DatasetDict

from patchloop.datagen.functions import hf_rows
from patchloop.rl.config import GRPORunConfig, SFTRunConfig, load_config
from patchloop.types import FunctionTask

pytestmark = [pytest.mark.train, pytest.mark.slow]


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _assert_lora_moved_base_frozen(model, before):
    lora_changed, base_changed = [], []
    for name, p in model.named_parameters():
        moved = not torch.equal(before[name], p.detach())
        (lora_changed if "lora_" in name else base_changed).append(moved)
    assert lora_changed and any(lora_changed), "no LoRA weight changed"
    assert not any(base_changed), "a base weight changed under LoRA"


def test_sft_step_with_lora_trains_adapter_only(tiny_model, task_dir, tmp_path):
    from patchloop.rl.sft import build_trainer

    cfg = load_config(SFTRunConfig, None, [
        f"model.name_or_path={tiny_model}", f"data.path={task_dir}", f"train.output_dir={tmp_path}",
        "lora.enabled=true", "lora.r=4", "train.max_steps=2", "train.learning_rate=1e-2",
        "train.per_device_train_batch_size=4", "train.report_to=[]", "max_length=96"])
    trainer, _ = build_trainer(cfg)
    before = _snapshot(trainer.model)
    trainer.train()
    _assert_lora_moved_base_frozen(trainer.model, before)
    logged = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "loss" in r] == [1, 2]


@pytest.fixture
def comment_task_dir(tmp_path):
    """One task whose prompt already holds a working function and ends inside a comment: a
    completion passes exactly when it stays on that line. A random policy then gets reward
    spread within its group, so one GRPO step has a gradient to follow (an all-zero group has none)."""
    prompt = "def calc(x):\n    return x + 1\n#"
    test = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n"
    task = FunctionTask("c/1", prompt, "calc", test, "", {"family": "arith", "level": 1, "params": [], "seed": 0,
                                                         "cases": [{"args": [1], "expected": 2}]})
    rows = hf_rows([task, FunctionTask("c/2", *[getattr(task, f) for f in ("prompt", "entry_point", "test")],
                                       "", dict(task.extra))])
    DatasetDict({"rl": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "tasks" / "hf"))
    return tmp_path / "tasks"


def test_grpo_step_with_lora_trains_adapter_only(tiny_model, comment_task_dir, tmp_path):
    from patchloop.rl.grpo import build_trainer

    out = tmp_path / "grpo"
    cfg = load_config(GRPORunConfig, None, [
        f"model.name_or_path={tiny_model}", f"data.path={comment_task_dir}", f"train.output_dir={out}",
        "lora.enabled=true", "lora.r=4", "train.max_steps=2", "train.learning_rate=1e-2", "train.seed=0",
        "train.per_device_train_batch_size=16", "num_generations=8", "max_completion_length=3",
        "temperature=1.5", "reward.backend=local", "reward.partial_credit=false", "train.report_to=[]"])
    trainer, _, reward = build_trainer(cfg)
    before = _snapshot(trainer.model)
    try:
        trainer.train()
    finally:
        reward.close()
    steps = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [s for s in steps if "reward" in s]
    assert len(steps) == 2
    assert any(s["reward_std"] > 0 for s in steps), "no reward spread: the step had nothing to learn from"
    assert all(0.0 <= s["pass_rate"] <= 1.0 for s in steps)
    assert all(s["time/generation_s"] > 0 and s["time/reward_s"] > 0 for s in steps)
    _assert_lora_moved_base_frozen(trainer.model, before)


def _cli(*args):
    return [sys.executable, "-m", "patchloop", "train", *args]


def test_cli_sft_resumes_after_kill(tiny_model, task_dir, tmp_path):
    """Kill -9 right after the first checkpoint; the same command then continues from it."""
    out = tmp_path / "sft"
    args = _cli("sft", f"model.name_or_path={tiny_model}", f"data.path={task_dir}", f"train.output_dir={out}",
                "train.max_steps=6", "train.save_steps=2", "train.save_total_limit=5",
                "train.per_device_train_batch_size=4", "train.report_to=[]", "max_length=96")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        for line in proc.stdout:  # blocks on the child's own progress lines, no polling
            if "checkpoint saved" in line:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "checkpoint-2" / "trainer_state.json").exists()
    assert not (out / "final").exists()
    done = subprocess.run(args, check=False, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "model written to" in done.stdout
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(x)]
    # Steps 1-2 ran before the kill; the rerun starts at 3, it does not redo them.
    assert steps[-4:] == [3, 4, 5, 6] and steps.count(1) == 1
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    assert (out / "final" / "model.safetensors").exists()


def test_cli_grpo_runs_from_preset(tiny_model, task_dir, tmp_path):
    from pathlib import Path

    preset = Path(__file__).resolve().parents[2] / "configs" / "tiny-cpu-grpo.yaml"
    out = tmp_path / "grpo"
    res = subprocess.run(_cli("grpo", "--config", str(preset), f"model.name_or_path={tiny_model}",
                              f"data.path={task_dir}", f"train.output_dir={out}", "data.level_weights=null",
                              "data.max_samples=null", "train.max_steps=1", "train.per_device_train_batch_size=8",
                              "num_generations=4", "max_completion_length=8", "reward.backend=local",
                              "train.report_to=[tensorboard]"),
                         check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "[grpo] step 1/1" in res.stdout
    rec = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert {"reward", "reward_std", "pass_rate", "frac_reward_zero_std"} <= set(rec)
    assert any(out.rglob("events.out.tfevents.*")), "no TensorBoard events"
    assert (out / "final" / "model.safetensors").exists() and (out / "config.yaml").exists()
    bad = subprocess.run(_cli("grpo", "--config", str(preset), "num_generations=1"), check=False,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "num_generations" in bad.stderr
