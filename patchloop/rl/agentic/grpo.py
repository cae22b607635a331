"""``patchloop train agent-grpo``: multi-turn GRPO of the agent on repository tasks.

TRL's ``GRPOTrainer`` with a ``rollout_func`` (:mod:`grpo_rollouts`) that runs the agent the
users run (``run_episode``: the same tools, prompts and sandboxes) with the policy in training,
``num_generations`` rollouts per task per step in parallel sandboxes, each rewarded by the SWE
harness on a fresh workspace from its diff alone (``reward.grade_patch``: edits to the graded
tests earn 0, an empty diff earns 0). TRL trains on exactly the ids that were sampled, with
tool outputs out of the loss (``env_mask``); this module only wires it up.

The GRPO++ recipe (DeepSWE) maps onto TRL's own options: no KL (``beta=0``), clip-higher
(``epsilon_high``), Dr. GRPO's constant length normaliser and unscaled advantages
(``loss_type="dr_grpo"``, ``scale_rewards="none"``), and masking of episodes cut by a limit
(the rollouts' ``mask_exit_reasons``; a masked rollout has reward None, which TRL keeps out of
its group's baseline, and no trained token). Leave-one-out advantages are not a TRL option for
GRPO; with ``scale_rewards="none"`` TRL's advantage r_i - mean(r) equals the leave-one-out one,
r_i - mean of the others, times (G-1)/G for a group of G scored rollouts: the same direction,
a step smaller by that factor, so the recipe's baseline holds without reimplementing the loss.

Per step ``metrics.jsonl`` splits the time: ``time/generation_s`` (the rollouts' wall time),
within it ``time/model_s`` (the policy generating), ``time/sandbox_s`` and ``time/grade_s``
(summed over rollouts, which overlap), and ``time/optimisation_s`` (the rest of the step).
"""

from __future__ import annotations

import logging
from pathlib import Path

from patchloop.llm.quiet import quiet_libraries
from patchloop.rl.agentic.config import AgentGRPOConfig
from patchloop.rl.agentic.grpo_rollouts import AgentReward, AgentRolloutFunc
from patchloop.rl.callbacks import StepTimer, run_callbacks
from patchloop.rl.common import load_model, peft_config, set_cpu_threads, train_and_save
from patchloop.rl.config import dump_config


def agent_grpo_args(cfg: AgentGRPOConfig, cuda: bool | None = None):
    """TRL's ``GRPOConfig`` for this run, on this machine or (``cuda=True``) on a GPU."""
    from trl import GRPOConfig

    from patchloop.rl.grpo import group_and_vllm_kwargs

    kw, extra = group_and_vllm_kwargs(cfg, cuda)
    if extra:
        # the agent's logprobs are the raw distribution's: no importance correction against them
        extra.update(vllm_importance_sampling_correction=False,
                     vllm_max_model_length=cfg.rollouts.agent.context_tokens)
    s = cfg.rollouts
    return GRPOConfig(
        **kw, **extra, num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
        temperature=s.temperature, top_p=s.top_p, beta=cfg.beta, loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards, epsilon=cfg.epsilon, epsilon_high=cfg.epsilon_high,
        num_iterations=cfg.num_iterations, mask_truncated_completions=False, log_completions=False,
        remove_unused_columns=False, shuffle_dataset=True,
    )


def build_dataset(tasks):
    """One row per task; its prompt is the instance id (the agent builds the real prompt)."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": t.instance_id} for t in tasks])


def build_trainer(cfg: AgentGRPOConfig, *, progress: bool = True):
    """The configured ``GRPOTrainer``, its tokenizer and its rollout function."""
    import os

    from transformers import PrinterCallback
    from trl import GRPOTrainer

    from patchloop.rl.agentic.rollouts import load_rollout_tasks

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is ours to rely on; said here
    out = Path(cfg.train.output_dir)
    dump_config(cfg, out / "config.yaml")
    set_cpu_threads(cfg.train.cpu_threads)
    tasks = load_rollout_tasks(cfg.rollouts)
    model, tok = load_model(cfg.model, keep_merged_in=out / "start" if cfg.lora.enabled else None)
    timer = StepTimer()
    rollout = AgentRolloutFunc(cfg, tasks, cfg.rollouts.directory(out), timer=timer, progress=progress)
    callbacks = run_callbacks(out, "agent-grpo", cfg.train.max_wall_s, timer=timer)
    trainer = GRPOTrainer(model=model, reward_funcs=[AgentReward()], args=agent_grpo_args(cfg),
                          train_dataset=build_dataset(tasks), processing_class=tok,
                          peft_config=peft_config(cfg.lora), callbacks=callbacks, rollout_func=rollout)
    trainer.remove_callback(PrinterCallback)  # raw log dicts on stdout; ProgressCallback says it readably
    timer.wrap(trainer, "_generate", "generation_s")
    return trainer, tok, rollout


def run_agent_grpo(cfg: AgentGRPOConfig) -> Path:
    """Train (resuming from the newest checkpoint, and reusing the finished rollouts of the step
    it stopped in); return the final model (or adapter) directory."""
    quiet_libraries()
    # TRL warns about every rollout whose reward is None; masked rollouts are meant to be, and
    # the step line and metrics.jsonl (agent/masked) count them
    logging.getLogger("trl.trainer.grpo_trainer").setLevel(logging.ERROR)
    trainer, tok, _ = build_trainer(cfg)
    return train_and_save(trainer, tok, cfg, "agent GRPO")
