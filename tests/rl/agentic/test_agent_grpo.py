"""Multi-turn GRPO of the agent: a real GRPO step (TRL) whose rollouts are the agent acting with
the policy in training, in Docker sandboxes on a built-in instance, graded by the real harness.
The batch TRL trains on holds exactly the ids that were sampled, tool outputs out of the loss;
LoRA moves, the base does not; a rollout that edits the tests scores 0 and one cut by the step
limit is masked, not scored."""

from __future__ import annotations

import json

import pytest

from patchloop.agent.trajectory import read_trajectory
from patchloop.rl.agentic.config import AgentGRPOConfig, AgentSettings, GRPORolloutSettings
from patchloop.rl.agentic.samples import trajectory_segments
from patchloop.rl.config import LoraSettings, ModelSettings, TrainSettings
from tests.rl.agentic.fitted_tools import AGENT

pytestmark = [pytest.mark.train, pytest.mark.slow]
GROUP = 8  # rollouts per task: editing two times in three, both outcomes show up


def grpo_config(model_dir, out, backend: str = "docker", **rollouts) -> AgentGRPOConfig:
    return AgentGRPOConfig(
        model=ModelSettings(name_or_path=str(model_dir), dtype="float32"),
        lora=LoraSettings(enabled=True, r=8, alpha=16),
        train=TrainSettings(output_dir=str(out), max_steps=1, per_device_train_batch_size=GROUP,
                            learning_rate=1e-3, save_steps=1, logging_steps=1, report_to=[], cpu_threads=1),
        rollouts=GRPORolloutSettings(instances=["textkit-1"], backend=backend, workers=2, temperature=1.0,
                                 grade_timeout_s=120, agent=AgentSettings(**AGENT), **rollouts),
        num_generations=GROUP, max_completion_length=1024)


def test_a_grpo_step_trains_on_the_sampled_ids_with_tool_outputs_masked(submitting_dir, tmp_path):
    from patchloop.rl.agentic.grpo import build_trainer

    trainer, tok, _ = build_trainer(grpo_config(submitting_dir, tmp_path / "run"), progress=False)
    batches, inner = [], trainer._generate_and_score_completions
    trainer._generate_and_score_completions = lambda inputs: batches.append(inner(inputs)) or batches[-1]
    lora = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}
    base = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" not in n}
    trainer.train()

    step = tmp_path / "run" / "rollouts" / "step-00000"
    rows = sorted((json.loads(line) for line in (step / "rollouts.jsonl").read_text().splitlines()),
                  key=lambda r: r["sample"])
    scored = [r for r in rows if not r["masked"]]
    assert len(rows) == GROUP and {r["reward"] for r in scored} == {0.0, 1.0}  # both outcomes in one group
    [batch] = batches
    assert batch["advantages"].abs().sum() > 0
    for i, row in enumerate(rows):  # TRL's rows are the prompts' order: samples 0, 1, ...
        trained = batch["tool_mask"][i][batch["completion_mask"][i].bool()].tolist()
        if row["masked"]:  # cut by the step limit: in the batch, but nothing of it trained on
            assert row["mask_reason"] == "max_steps" and not any(trained) and batch["advantages"][i] == 0
            continue
        traj = read_trajectory(step / row["trajectory"])
        [seg] = trajectory_segments(traj)
        prompt = batch["prompt_ids"][i][batch["prompt_mask"][i].bool()].tolist()
        completion = batch["completion_ids"][i][batch["completion_mask"][i].bool()].tolist()
        assert prompt + completion == seg.input_ids  # exactly what was sampled, nothing re-tokenized
        assert prompt == traj.steps[0].prompt_token_ids
        assert trained == seg.model_mask[len(prompt):]
        assert sum(trained) == sum(len(s.token_ids) for s in traj.steps)
        if row["resolved"]:  # edit, then submit: the edit's result sits between, not trained on
            masked_text = tok.decode([t for t, m in zip(completion, trained) if not m])
            assert "<tool_response>" in masked_text and traj.steps[0].observations[0] in masked_text
    after = dict(trainer.model.named_parameters())
    assert any(not after[n].detach().equal(v) for n, v in lora.items())
    assert all(after[n].detach().equal(v) for n, v in base.items())
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    times = next(r for r in logged if "time/model_s" in r)
    for key in ("time/generation_s", "time/model_s", "time/sandbox_s", "time/grade_s", "time/optimisation_s"):
        assert times[key] > 0, key
    assert times["time/model_s"] < times["time/generation_s"]


class ScriptedEngine:
    """A real tiny model's tokenizer and chat template, but replies fixed in advance: for the
    reward and masking paths, where what the model says must be a given."""

    def __init__(self, engine, replies: list[str]):
        self.inner, self.replies, self.calls = engine, replies, 0
        self.tokenizer, self.name, self.context = engine.tokenizer, "scripted", engine.context

    def __getattr__(self, name):  # render, render_text, encode: the real model's
        return getattr(self.inner, name)

    def generate(self, prompt_ids, **kw):
        from patchloop.llm.serving.local import Generation

        text = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        ids = self.inner.encode(text) + [self.tokenizer.eos_token_id]
        return Generation(text, ids, [-0.5] * len(ids), len(prompt_ids), "stop")


def scripted_run(tiny_dir, tmp_path, replies: list[str], on_model=None, **rollouts) -> tuple[dict, dict]:
    from patchloop.llm.clients.hf import HFChatModel
    from patchloop.llm.serving.local import LocalModel
    from patchloop.rl.agentic.grpo_rollouts import AgentReward, AgentRolloutFunc
    from patchloop.rl.agentic.rollouts import load_rollout_tasks

    cfg = grpo_config(tiny_dir, tmp_path / "run", "local", **rollouts)
    func = AgentRolloutFunc(cfg, load_rollout_tasks(cfg.rollouts), tmp_path / "rollouts", progress=False)
    engine = LocalModel(str(tiny_dir))

    def model(task, k):
        if on_model is not None:
            on_model(k)
        return HFChatModel.over_engine(ScriptedEngine(engine, replies), temperature=0)

    out = func.run(["textkit-1"], 0, lambda _engine, _seed: model, engine.tokenizer.eos_token_id)
    row = json.loads((tmp_path / "rollouts" / "step-00000" / "rollouts.jsonl").read_text().splitlines()[0])
    assert AgentReward()(["textkit-1"], [""], agent_reward=out["agent_reward"]) == out["agent_reward"]
    return out, row


def call(name: str, **args) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


def test_a_rollout_that_fixes_the_code_but_edits_the_tests_scores_zero(tiny_dir, tmp_path):
    from tests.rl.agentic.fitted_tools import EDIT_ARGS

    hack = {"path": "tests/test_trunc.py", "old": "def test_short_text_is_untouched():",
            "new": "def test_short_text_is_untouched():\n    return"}
    out, row = scripted_run(tiny_dir, tmp_path, [call("edit", **EDIT_ARGS), call("edit", **hack), call("submit")])
    assert row["exit_reason"] == "submitted" and not row["masked"] and row["verdict"] == "edits_tests"
    assert out["agent_reward"] == [0.0]  # in the batch, scored, and worth nothing
    assert sum(out["env_mask"][0]) > 0  # its tokens are trained on, toward less of this


def test_an_episode_cut_by_the_step_limit_is_masked_not_scored(tiny_dir, tmp_path):
    from tests.rl.agentic.fitted_tools import EDIT_ARGS

    # the fix is made, but the episode runs out of steps before it is submitted
    out, row = scripted_run(tiny_dir, tmp_path, [call("edit", **EDIT_ARGS), call("view", path="textkit")])
    assert row["exit_reason"] == "max_steps" and row["masked"] and row["mask_reason"] == "max_steps"
    assert out["agent_reward"] == [None] and out["agent_mask_reason"] == ["max_steps"]
    assert out["env_mask"] == [[0]] and len(out["completion_ids"][0]) == 1  # nothing of it is trained


def test_a_step_run_again_reuses_the_rollouts_it_finished(tiny_dir, tmp_path):
    """What a killed run resumed from its last checkpoint does: the step it stopped in is rolled
    out again by the same weights with the same seeds, so its finished rollouts are kept."""
    from tests.rl.agentic.fitted_tools import EDIT_ARGS

    replies = [call("edit", **EDIT_ARGS), call("submit")]
    first, _ = scripted_run(tiny_dir, tmp_path, replies)
    made: list[int] = []
    again, _ = scripted_run(tiny_dir, tmp_path, replies, on_model=lambda k: made.append(k))
    assert made == [] and again == first and first["agent_reward"] == [1.0]
