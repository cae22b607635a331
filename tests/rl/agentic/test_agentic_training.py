"""Agentic RFT and DPO steps on real rollouts: the tiny model acting in Docker sandboxes on a
built-in instance, graded by the harness. What the trainers are handed must be exactly what was
sampled: the batch's ids are the trajectory's ids, the model's own tokens are trained and the
tool outputs are not; LoRA weights move, base weights do not."""

from __future__ import annotations

import pytest

from patchloop.agent.trajectory import read_trajectory
from patchloop.rl.agentic.config import AgentDPOConfig, AgentRFTConfig, RolloutSettings
from patchloop.rl.agentic.rollouts import run_rollouts
from patchloop.rl.config import LoraSettings, ModelSettings, TrainSettings
from tests.agent.conftest import load_instance
from tests.rl.agentic.fitted import AGENT

pytestmark = pytest.mark.slow  # fitting the acting model and real rollouts: a few minutes on a busy CPU


def rollout_settings(out) -> RolloutSettings:
    return RolloutSettings(backend="docker", samples_per_task=6, workers=2, temperature=0.5, agent=AGENT,
                           output_dir=str(out))


@pytest.fixture(scope="module")
def rollouts(acting_dir, tmp_path_factory):
    """Six rollouts of textkit-1 by the fitted model; the trainers below reuse them as they are."""
    out = tmp_path_factory.mktemp("agentic-rollouts")
    rows = run_rollouts(rollout_settings(out), out, model_spec=f"hf:{acting_dir}",
                        tasks=[load_instance("textkit-1")], progress=False)
    assert any(r["resolved"] for r in rows) and any(not r["resolved"] for r in rows), rows
    return out, rows


def run_config(cls, acting_dir, rollouts_dir, train_dir, max_steps: int = 1, **kw):
    """A one-step LoRA run on the fitted model, reading the rollouts of the fixture."""
    return cls(model=ModelSettings(name_or_path=str(acting_dir), dtype="float32"),
               lora=LoraSettings(enabled=True, r=8, alpha=16),
               train=TrainSettings(output_dir=str(train_dir), max_steps=max_steps, per_device_train_batch_size=1,
                                   learning_rate=1e-3, save_steps=1, logging_steps=1, report_to=[], cpu_threads=1),
               rollouts=rollout_settings(rollouts_dir), max_length=4096, **kw)


def sampled_sequence(traj) -> tuple[list[int], list[int]]:
    """The trajectory's whole token sequence and its model mask, from the steps' raw fields:
    each continued step's prompt extends the previous prompt and its sampled ids."""
    ids, mask = [], []
    for step in traj.steps:
        assert step.continued or not ids, "the test episode is one token sequence"
        prompt = list(step.prompt_token_ids)
        assert prompt[: len(ids)] == ids
        mask += [0] * (len(prompt) - len(ids))
        ids = prompt + list(step.token_ids)
        mask += [1] * len(step.token_ids)
    return ids, mask


def spy_batches(trainer) -> list[dict]:
    """Every batch the trainer computes a loss on, as it got it."""
    seen, inner = [], trainer.compute_loss

    def spy(model, inputs, *a, **kw):
        seen.append({k: v.detach().clone() for k, v in inputs.items() if hasattr(v, "detach")})
        return inner(model, inputs, *a, **kw)

    trainer.compute_loss = spy
    return seen


def weights(model) -> tuple[dict, dict]:
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    return lora, base


def assert_lora_moved_base_kept(before, model) -> None:
    lora, base = weights(model)
    assert lora and any(not lora[n].equal(before[0][n]) for n in lora)
    assert all(base[n].equal(before[1][n]) for n in base)


def tool_output_is_masked(tok, ids: list[int], mask: list[int], traj) -> None:
    """Between the first reply and the second, the tool's output: in the sequence, never trained."""
    first = len(traj.steps[0].prompt_token_ids) + len(traj.steps[0].token_ids)
    second = len(traj.steps[1].prompt_token_ids)
    assert second > first and not any(mask[first:second])
    assert "<output>" in tok.decode(ids[first:second])


def test_rft_step_trains_on_the_sampled_ids_with_tool_outputs_masked(acting_dir, rollouts, tmp_path):
    from patchloop.rl.agentic.rft import build_trainer, run_agent_rft

    out, rows = rollouts
    trainer, tok, stats = build_trainer(run_config(AgentRFTConfig, acting_dir, out, tmp_path, max_kept_per_task=1),
                                        progress=False)
    assert stats["kept"] == 1 and stats["resolved"] == sum(r["resolved"] for r in rows)
    kept = next(r for r in rows if r["resolved"])  # the first resolved rollout is the one kept
    traj = read_trajectory(out / kept["trajectory"])
    ids, mask = sampled_sequence(traj)
    batches, before = spy_batches(trainer), weights(trainer.model)
    trainer.train()
    batch = batches[0]
    assert batch["input_ids"][0].tolist() == ids  # exactly what was sampled, nothing re-tokenized
    labels = batch["labels"][0].tolist()
    assert labels == [i if m else -100 for i, m in zip(ids, mask)]  # the model's tokens, and only those
    trained = [int(x != -100) for x in labels]
    tool_output_is_masked(tok, ids, trained, traj)
    assert sum(trained) == sum(len(s.token_ids) for s in traj.steps)
    assert_lora_moved_base_kept(before, trainer.model)
    # a second run with one more step resumes from checkpoint-1 on the same kept set
    final = run_agent_rft(run_config(AgentRFTConfig, acting_dir, out, tmp_path, max_steps=2, max_kept_per_task=1))
    assert (final / "adapter_config.json").exists() and (tmp_path / "checkpoint-2").exists()
    assert (tmp_path / "kept.jsonl").read_text().count("\n") == 1


def test_dpo_step_compares_the_model_tokens_of_a_resolved_and_an_unresolved_rollout(acting_dir, rollouts, tmp_path):
    from patchloop.rl.agentic.dpo import build_trainer

    out, rows = rollouts
    trainer, tok, stats = build_trainer(run_config(AgentDPOConfig, acting_dir, out, tmp_path, max_pairs_per_task=1),
                                        progress=False)
    assert stats["pairs"] == 1
    chosen = read_trajectory(out / next(r for r in rows if r["resolved"])["trajectory"])
    rejected = read_trajectory(out / next(r for r in rows if not r["resolved"])["trajectory"])
    batches, before = spy_batches(trainer), weights(trainer.model)
    trainer.train()
    batch = batches[0]
    assert batch["input_ids"].shape[0] == 2  # [chosen, rejected]
    for row, traj in enumerate((chosen, rejected)):
        ids, mask = sampled_sequence(traj)
        n = int(batch["attention_mask"][row].sum())
        assert batch["input_ids"][row, :n].tolist() == ids
        got = batch["completion_mask"][row].tolist()
        assert got[:n] == mask and not any(got[n:])  # the model's tokens; never the tool output or padding
        tool_output_is_masked(tok, ids, got, traj)
    assert_lora_moved_base_kept(before, trainer.model)


def test_preference_collator_cuts_masks_where_it_cuts_ids():
    from patchloop.rl.agentic.dpo_trainer import TrajectoryPreferenceCollator

    ex = {"prompt_ids": [1, 2], "chosen_ids": [3, 4, 5, 6], "chosen_mask": [1, 0, 0, 1],
          "rejected_ids": [7, 8], "rejected_mask": [1, 1]}
    out = TrajectoryPreferenceCollator(pad_token_id=0, max_length=5)([ex])
    assert out["input_ids"].tolist() == [[1, 2, 3, 4, 5], [1, 2, 7, 8, 0]]
    assert out["completion_mask"].tolist() == [[0, 0, 1, 0, 0], [0, 0, 1, 1, 0]]
