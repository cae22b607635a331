"""GRPO's ``rollout_func``: the agent itself acts with the policy being trained.

TRL hands the function the step's prompts, each repeated ``num_generations`` times; here a
prompt is a task's instance id (the agent builds the real prompt in the sandbox: system prompt,
task, repository outline). Every prompt becomes one rollout of ``run_rollouts`` (the agent in a
pooled sandbox, graded by the harness on the diff alone), its model an ``HFChatModel`` over the
trainer's in-memory policy, so rollouts sample from the weights being trained and tool runs
and grading of one overlap another's generation.

What TRL gets back per rollout is the trajectory's one token sequence (``samples``): the first
prompt's ids as ``prompt_ids``; every later id (the model's, the tool outputs', the template's
glue) as ``completion_ids``, with ``env_mask`` 1 exactly on the sampled ones. A rollout that
is masked (cut by a limit, crashed, or its conversation shortened into several sequences)
goes in with ``env_mask`` all 0 and reward None: TRL leaves it out of its group's baseline and
gives it no advantage, as DeepSWE masks cut episodes instead of scoring them 0.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from patchloop.rl.agentic.config import AgentGRPOConfig
from patchloop.types import Task, Trajectory


def to_sample(row: dict, traj: Trajectory | None, end_id: int) -> dict:
    """One rollout as TRL's fields plus its reward (None when it must not be scored)."""
    from patchloop.rl.agentic.samples import trajectory_segments

    reason = row.get("mask_reason") or ("masked" if row.get("masked") else "")
    segments = None
    if traj is not None and traj.steps:
        try:
            segments = trajectory_segments(traj)
        except ValueError as e:
            reason = reason or f"no token ids: {e}"
    if segments and len(segments) > 1:
        reason = reason or "context_cut"
    if not reason and segments:
        seg = segments[0]
        n = seg.prompt_len
        return {"prompt_ids": seg.input_ids[:n], "completion_ids": seg.input_ids[n:], "env_mask": seg.model_mask[n:],
                "logprobs": [lp if m else 0.0 for lp, m in zip(seg.logprobs[n:], seg.model_mask[n:])],
                "reward": float(row.get("reward") or 0.0), "mask_reason": ""}
    # Masked: the first prompt (where there is one) and one end token, none of it trained.
    prompt = segments[0].input_ids[: segments[0].prompt_len] if segments else [end_id]
    return {"prompt_ids": prompt, "completion_ids": [end_id], "env_mask": [0], "logprobs": [0.0],
            "reward": None, "mask_reason": reason or "masked"}


class AgentRolloutFunc:
    """``rollout_func(prompts, trainer)`` for ``GRPOTrainer`` (see the module docstring)."""

    def __init__(self, cfg: AgentGRPOConfig, tasks: list[Task], out: str | Path, timer=None, progress: bool = True):
        self.cfg, self.out, self.timer, self.progress = cfg, Path(out), timer, progress
        self.tasks = {t.instance_id: t for t in tasks}
        self._engine = None

    def engine(self, trainer):
        """The trainer's policy as a generation engine: TRL's colocated vLLM where it runs one
        (TRL syncs its weights before each rollout call), else the model itself (weights shared,
        nothing copied)."""
        if self._engine is None:
            if getattr(trainer, "use_vllm", False):
                from patchloop.llm.serving.engines.vllm_llm import VLLMEngine

                self._engine = VLLMEngine(trainer.vllm_generation.llm, trainer.processing_class, name="policy",
                                          context=self.cfg.rollouts.agent.context_tokens)
            else:
                from patchloop.llm.serving.local import LocalModel

                model = trainer.accelerator.unwrap_model(trainer.model)
                self._engine = LocalModel.from_loaded(model, trainer.processing_class, name="policy")
        return self._engine

    def policy_factory(self, engine, seed: int):
        """A chat model per rollout over the shared engine, seeded for that rollout."""
        from patchloop.llm.clients.hf import HFChatModel
        from patchloop.rl.agentic.worker import sample_seed

        s = self.cfg.rollouts

        def make(task: Task, sample: int):
            return HFChatModel.over_engine(engine, temperature=s.temperature, top_p=s.top_p,
                                           max_new_tokens=s.agent.completion_tokens,
                                           seed=sample_seed(seed, task.instance_id, sample))
        return make

    def __call__(self, prompts: list, trainer) -> dict:
        engine = self.engine(trainer)
        policy = getattr(engine, "model", None)  # the in-memory policy (not with vLLM)
        was_training = policy is not None and policy.training
        if policy is not None:
            policy.eval()  # no dropout while acting
        busy = engine.generate_s
        try:
            out = self.run(prompts, trainer.state.global_step, self.policy_factory,
                           engine.tokenizer.eos_token_id, engine)
        finally:
            if policy is not None:
                policy.train(was_training)
        if self.timer is not None:
            self.timer.add("model_s", engine.generate_s - busy)
        return out

    def run(self, prompts: list, step: int, factory, end_id: int, engine=None) -> dict:
        """Roll out every prompt (an instance id) once, as step ``step``; TRL's fields, prompt order."""
        from patchloop.agent.trajectory import read_trajectory
        from patchloop.rl.agentic.rollouts import run_rollouts

        ids = [p if isinstance(p, str) else str(p) for p in prompts]
        unknown = sorted(set(ids) - set(self.tasks))
        if unknown:
            raise ValueError(f"GRPO prompt(s) {', '.join(unknown[:3])} name no task of rollouts.tasks")
        counts = Counter(ids)
        if len(set(counts.values())) != 1:
            raise ValueError(f"every task needs the same number of rollouts per step, got {dict(counts)}")
        settings = self.cfg.rollouts.model_copy(update={"samples_per_task": counts[ids[0]],
                                                        "seed": self.cfg.rollouts.seed + step})
        where = self.out / f"step-{step:05d}"
        t0 = time.monotonic()
        rows = run_rollouts(settings, where, model_spec=f"policy@step-{step}", tasks=[self.tasks[i] for i in counts],
                            model_factory=factory(engine, settings.seed), progress=self.progress)
        by_key = {(r["task_id"], r["sample"]): r for r in rows}
        seen: Counter = Counter()
        samples = []
        for i in ids:
            row = by_key[(i, seen[i])]
            seen[i] += 1
            traj = read_trajectory(where / row["trajectory"]) if row.get("trajectory") else None
            samples.append(to_sample(row, traj, end_id))
        if self.timer is not None:
            self._time(rows, time.monotonic() - t0)
        fields = ("prompt_ids", "completion_ids", "env_mask", "logprobs")
        out = {k: [s[k] for s in samples] for k in fields}
        out["agent_reward"] = [s["reward"] for s in samples]
        out["agent_mask_reason"] = [s["mask_reason"] for s in samples]
        return out

    def _time(self, rows: list[dict], wall_s: float) -> None:
        """Rollout wall time, and the sandbox and grading seconds summed over rollouts (they overlap)."""
        self.timer.add("rollouts_s", wall_s)
        self.timer.add("sandbox_s", sum(r.get("sandbox_s") or 0.0 for r in rows))
        self.timer.add("grade_s", sum(r.get("grade_s") or 0.0 for r in rows))


class AgentReward:
    """The reward TRL asks for: each rollout's harness reward, None where it was masked. The
    rollout function computed it (grading runs inside the rollouts, overlapping generation)."""

    __name__ = "agent_reward"

    def __call__(self, prompts, completions, agent_reward=None, log_metric=None, **kw) -> list[float | None]:
        rewards = list(agent_reward or [])
        if log_metric is not None and rewards:
            scored = [r for r in rewards if r is not None]
            log_metric("agent/masked", (len(rewards) - len(scored)) / len(rewards))
            log_metric("agent/resolved", sum(r > 0 for r in scored) / len(rewards))
        return rewards
