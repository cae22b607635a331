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


def _two_grpo_steps(model, tasks, out, *overrides):
    """Two GRPO steps (16 completions of <= 3 tokens at T=1.5, binary reward, local sandbox);
    returns the trainer, its weights before training, and the logged step records."""
    from patchloop.rl.grpo import build_trainer

    cfg = load_config(GRPORunConfig, None, [
        f"model.name_or_path={model}", f"data.path={tasks}", f"train.output_dir={out}", "train.max_steps=2",
        "train.seed=0", "train.per_device_train_batch_size=16", "num_generations=8", "max_completion_length=3",
        "temperature=1.5", "reward.backend=local", "reward.partial_credit=false", "train.report_to=[]", *overrides])
    trainer, _, reward = build_trainer(cfg)
    before = _snapshot(trainer.model)
    try:
        trainer.train()
    finally:
        reward.close()
    steps = [s for s in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "reward" in s]
    return trainer, before, steps


def test_grpo_step_with_lora_trains_adapter_only(tiny_model, comment_task_dir, tmp_path):
    trainer, before, steps = _two_grpo_steps(tiny_model, comment_task_dir, tmp_path / "grpo", "lora.enabled=true",
                                             "lora.r=4", "train.learning_rate=1e-2")
    assert len(steps) == 2
    assert any(s["reward_std"] > 0 for s in steps), "no reward spread: the step had nothing to learn from"
    assert all(0.0 <= s["pass_rate"] <= 1.0 for s in steps)
    assert all(s["time/generation_s"] > 0 and s["time/reward_s"] > 0 for s in steps)
    _assert_lora_moved_base_frozen(trainer.model, before)


def test_grpo_step_drops_groups_without_reward_spread(tiny_model, comment_task_dir, tmp_path):
    """With ``drop_zero_std_groups``, a group whose task no completion can pass (all rewards 0)
    leaves the step; the group with spread is trained on."""
    from datasets import load_from_disk

    dd = load_from_disk(str(comment_task_dir / "hf"))
    rows = dd["rl"].to_list()
    rows[1] = {**rows[1], "task_id": "c/impossible", "cases": json.dumps([{"args": [1], "expected": "never"}]),
               "test": "def check(candidate):\n    assert candidate(1) == 'never'\n"}
    DatasetDict({"rl": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "tasks" / "hf"))
    trainer, before, steps = _two_grpo_steps(tiny_model, tmp_path / "tasks", tmp_path / "grpo",
                                             "train.learning_rate=1e-3", "drop_zero_std_groups=true")
    assert len(steps) == 2
    assert all(s["groups_kept"] == 0.5 for s in steps if s["reward_std"] > 0)  # the impossible group is gone
    assert any(s["reward_std"] > 0 for s in steps)
    assert any(not torch.equal(before[n], p.detach()) for n, p in trainer.model.named_parameters())


def _cli(*args):
    return [sys.executable, "-m", "patchloop", "train", *args]


def _kill_after_first_checkpoint(args) -> None:
    """Run a training command and kill -9 it as soon as it reports its first checkpoint."""
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


def test_cli_sft_resumes_after_kill(tiny_model, task_dir, tmp_path):
    """Kill -9 right after the first checkpoint; the same command then continues from it."""
    out = tmp_path / "sft"
    args = _cli("sft", f"model.name_or_path={tiny_model}", f"data.path={task_dir}", f"train.output_dir={out}",
                "train.max_steps=6", "train.save_steps=2", "train.save_total_limit=5",
                "train.per_device_train_batch_size=4", "train.report_to=[]", "max_length=96")
    _kill_after_first_checkpoint(args)
    assert (out / "checkpoint-2" / "trainer_state.json").exists()
    assert not (out / "final").exists()
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "model written to" in done.stdout
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(x)]
    # Steps 1-2 ran before the kill; the rerun starts at 3, it does not redo them.
    assert steps[-4:] == [3, 4, 5, 6] and steps.count(1) == 1
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    assert (out / "final" / "model.safetensors").exists()


def test_cli_grpo_resumes_after_kill(tiny_model, task_dir, tmp_path):
    """GRPO killed -9 after its first checkpoint continues from it: optimizer, scheduler, RNG
    and step count come back, the reward's sandbox is opened afresh, no step is logged twice."""
    out = tmp_path / "grpo"
    args = _cli("grpo", "--model", str(tiny_model), "--data", str(task_dir), "--output-dir", str(out),
                "--max-steps", "5", "--save-steps", "2", "--save-total-limit", "5", "--num-generations", "4",
                "--per-device-train-batch-size", "8", "--max-completion-length", "6", "--reward.backend", "local",
                "--report-to", "[]", "--temperature", "1.5")
    _kill_after_first_checkpoint(args)
    assert (out / "checkpoint-2" / "trainer_state.json").exists() and not (out / "final").exists()
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "reward" in r]
    assert steps[:2] == [1, 2] and steps[-3:] == [3, 4, 5] and steps.count(1) == 1
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4
    assert (out / "final" / "model.safetensors").exists() and (out / "DONE.json").exists()


def test_cli_grpo_runs_from_preset(tiny_model, task_dir, tmp_path):
    from pathlib import Path

    preset = Path(__file__).resolve().parents[2] / "configs" / "tiny-cpu-grpo.yaml"
    out = tmp_path / "grpo"
    # every form a user may type: --flag value, --flag=value, a unique last part, dotted KEY=VALUE
    res = subprocess.run(_cli("grpo", "--config", str(preset), "--model", str(tiny_model),
                              "--data", str(task_dir), f"--output-dir={out}", "data.level_weights=null",
                              "--max-samples", "null", "--max-steps", "1", "--per-device-train-batch-size", "8",
                              "num_generations=4", "--max-completion-length", "8", "--reward.backend", "local",
                              "train.report_to=[tensorboard]"),
                         check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "[grpo] step 1/1" in res.stdout
    rec = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert {"reward", "reward_std", "pass_rate", "frac_reward_zero_std", "kl"} <= set(rec)  # preset beta > 0
    assert any(out.rglob("events.out.tfevents.*")), "no TensorBoard events"
    assert (out / "final" / "model.safetensors").exists() and (out / "config.yaml").exists()
    bad = subprocess.run(_cli("grpo", "--config", str(preset), "num_generations=1"), check=False,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "num_generations" in bad.stderr


def test_zero_variance_groups_leave_the_step():
    """Groups whose rewards all agree carry no advantage: the filter drops them whole, keeps
    the rows of informative groups in order, and recounts the loss normaliser."""
    from patchloop.rl.grpo import keep_informative_groups

    adv = torch.tensor([0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0])  # 3 groups of 3: only the middle varies
    mask = torch.ones(9, 4, dtype=torch.long)
    mask[4, 2:] = 0
    batch = {"advantages": adv, "completion_mask": mask, "completion_ids": torch.arange(36).view(9, 4),
             "num_items_in_batch": mask.sum(), "scalar": torch.tensor(7)}
    out, kept, total = keep_informative_groups(batch, 3)
    assert (kept, total) == (1, 3)
    assert out["advantages"].tolist() == [1.0, -1.0, 0.0]
    assert out["completion_ids"][:, 0].tolist() == [12, 16, 20]
    assert int(out["num_items_in_batch"]) == 10 and int(out["scalar"]) == 7
    same_scale, _, _ = keep_informative_groups(batch, 3, renormalise=False)
    assert int(same_scale["num_items_in_batch"]) == int(mask.sum())  # the full batch's token count
    none, kept, _ = keep_informative_groups({**batch, "advantages": torch.zeros(9)}, 3)
    assert kept == 1 and none["advantages"].shape[0] == 3  # never an empty step


def test_a_lora_run_loads_in_serve_the_agent_and_the_next_stage(tiny_model, task_dir, tmp_path):
    """A LoRA run's output directory (final adapter + DONE.json) is all serve, the agent's local
    model and the next training stage need: each finds the base and applies the adapter."""
    import httpx

    from patchloop.llm.serving.local import LocalModel
    from patchloop.rl.common import load_model
    from patchloop.rl.config import ModelSettings

    out = tmp_path / "sft-lora"
    res = subprocess.run(_cli("sft", "--model", str(tiny_model), "--data", str(task_dir), "--output-dir", str(out),
                              "--lora", "--lora.r", "4", "--max-steps", "2", "--learning-rate", "5e-2",
                              "--per-device-train-batch-size", "4", "--report-to", "[]", "--max-length", "96"),
                         check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "final" / "adapter_config.json").exists() and not (out / "final" / "model.safetensors").exists()

    served = LocalModel(str(out))  # what `serve --model` and the agent's hf: models load
    assert served.name == f"{tiny_model}+{out / 'final'}"
    base = LocalModel(str(tiny_model))
    ids = base.tokenizer("def f(x):\n    return", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(served.model(ids).logits, base.model(ids).logits), "adapter not applied"
        merged, _ = load_model(ModelSettings(name_or_path=str(out)))  # GRPO starting from this run
        assert torch.allclose(merged(ids).logits, served.model(ids).logits, atol=1e-4)

    proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", str(out), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the ready line, or EOF if serve died
        assert "serving" in line, proc.stderr.read()[-2000:] if proc.poll() is not None else line
        url = line.split(" at ")[-1].strip()
        reply = httpx.post(f"{url}/chat/completions", timeout=120, json={
            "model": "x", "max_tokens": 8, "messages": [{"role": "user", "content": "Write f."}]})
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["role"] == "assistant"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_gpu_presets_chain_lora_sft_into_lora_grpo_and_load_as_trained(tiny_model, task_dir, tmp_path):
    """The GPU presets (chat prompts, LoRA, KL) on the tiny model with only the GPU-only knobs
    off: SFT trains an adapter, GRPO starts from that run and trains its own adapter on the
    merged start. Loading the GRPO run must give base + SFT + GRPO, not base + GRPO."""
    from pathlib import Path

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from patchloop.llm.serving.local import LocalModel

    configs = Path(__file__).resolve().parents[2] / "configs"
    common = ("--data", str(task_dir), "--no-bf16", "--dtype", "float32", "--report-to", "[]",
              "--gradient-accumulation-steps", "1", "--learning-rate", "5e-2")
    sft, grpo = tmp_path / "sft", tmp_path / "grpo"
    res = subprocess.run(_cli("sft", "-c", str(configs / "gpu-7b-sft.yaml"), "--model", str(tiny_model), *common,
                              "--output-dir", str(sft), "--max-steps", "2", "--per-device-train-batch-size", "2",
                              "--max-length", "256"), check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    res = subprocess.run(_cli("grpo", "-c", str(configs / "gpu-7b-grpo.yaml"), "--model", str(sft), *common,
                              "--output-dir", str(grpo), "--no-use-vllm", "--validation-size", "0", "--max-steps", "1",
                              "--per-device-train-batch-size", "8", "--num-generations", "4",
                              "--max-completion-length", "16", "--reward.backend", "local"),
                         check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "reward" in json.loads((grpo / "metrics.jsonl").read_text().splitlines()[0])
    adapter_cfg = json.loads((grpo / "final" / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == str((grpo / "start").resolve())

    ids = torch.tensor([[5, 17, 42, 7, 99, 3]])
    with torch.no_grad():
        start = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model)),
                                          str(sft / "final")).merge_and_unload()
        expected = PeftModel.from_pretrained(start, str(grpo / "final"))(ids).logits
        without_sft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model)),
                                                str(grpo / "final"))(ids).logits
        served = LocalModel(str(grpo)).model(ids).logits  # what serve, eval and the agent load
    assert torch.allclose(served, expected, atol=1e-4)
    assert not torch.allclose(served, without_sft, atol=1e-3), "the SFT adapter was dropped"
