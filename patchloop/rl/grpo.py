"""``patchloop train grpo``: TRL ``GRPOTrainer`` on execution rewards from the sandboxed grader.

Everything that shapes learning is in the config (generations per prompt, temperature, KL
``beta``, loss type, LoRA, curriculum through ``data.level_weights``); this module only wires
TRL to our reward, logs, timing and checkpoints. The prompts are test-only tasks: the trainer
never sees a reference solution.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path

from patchloop.evals.extract import repair_settled
from patchloop.llm.catalog.checkpoints import last_checkpoint
from patchloop.rl.callbacks import StepTimer, run_callbacks
from patchloop.rl.common import (
    has_cuda,
    load_model,
    peft_config,
    save_final,
    set_cpu_threads,
    training_kwargs,
)
from patchloop.rl.config import GRPORunConfig, dump_config
from patchloop.rl.data import grpo_rows, training_rows
from patchloop.rl.rewards import build_reward

log = logging.getLogger(__name__)


class _TimedReward:
    """Wraps the reward so its wall time lands in the step timer (TRL calls it by name)."""

    def __init__(self, inner, timer: StepTimer):
        self.inner, self.timer = inner, timer
        self.__name__ = getattr(inner, "__name__", "reward")

    def __call__(self, *a, **kw):
        t = time.perf_counter()
        try:
            return self.inner(*a, **kw)
        finally:
            self.timer.add("reward_s", time.perf_counter() - t)


def keep_informative_groups(batch: dict, num_generations: int, *, renormalise: bool = True) -> tuple[dict, int, int]:
    """DAPO's dynamic sampling, applied after scoring: drop every group whose completions all
    got the same reward (all right or all wrong). Such a group has zero advantage, so it adds
    no policy gradient, but it still costs a forward-backward pass and, under token-normalised
    losses, dilutes the step of the groups that do carry signal. Returns the filtered batch and
    (groups kept, groups in all). At least one group is kept so the step stays well-formed.
    With ``renormalise=False`` the loss keeps the whole batch's token count as its normaliser,
    so dropping saves compute without enlarging the step on the groups left."""
    import torch

    adv = batch["advantages"]
    n = adv.shape[0]
    groups = n // num_generations
    informative = (adv.view(groups, num_generations) != 0).any(dim=1)
    if not informative.any():
        informative[0] = True
    keep = informative.repeat_interleave(num_generations)
    out = {}
    for key, val in batch.items():
        out[key] = val[keep] if isinstance(val, torch.Tensor) and val.dim() > 0 and val.shape[0] == n else val
    if renormalise:
        mask = out["completion_mask"] * out["tool_mask"] if "tool_mask" in out else out["completion_mask"]
        out["num_items_in_batch"] = mask.sum()
    return out, int(informative.sum()), groups


@contextmanager
def _ending_after_code_block(trainer):
    """Every ``generate`` of this generation round gets a fresh :class:`EndAfterCodeBlock`
    (TRL builds the call itself, so the processor goes in by wrapping the model's method)."""
    from transformers import LogitsProcessorList

    from patchloop.llm.stopping import EndAfterCodeBlock

    model = trainer.accelerator.unwrap_model(trainer.model)
    tok = trainer.processing_class
    end_id = tok.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tok.get_vocab() else tok.eos_token_id
    original = model.generate

    def generate(*a, **kw):
        kw["logits_processor"] = LogitsProcessorList([*(kw.get("logits_processor") or []), EndAfterCodeBlock(tok, end_id)])
        return original(*a, **kw)

    model.generate = generate
    try:
        yield
    finally:
        del model.generate  # the instance attribute goes; the class's method shows again


def _trainer_class():
    """``GRPOTrainer``, extended with the optional zero-variance group filter."""
    from trl import GRPOTrainer

    class PatchloopGRPOTrainer(GRPOTrainer):
        drop_zero_std_groups = False
        renormalise_kept_groups = True
        stop_at_code_end = False

        # Private hooks, both: TRL has no public one for either. A logits processor in its own
        # generate (``stop_at_code_end``; with ``engine`` set, the generation interface stops at
        # the grader's rule and this is not used) and a filter between scoring and the loss
        # (DAPO's dynamic sampling: huggingface/trl#3708, open). trl is pinned to the tested minor
        # version in pyproject.toml for that reason.
        def _generate_single_turn(self, *args, **kwargs):
            if not self.stop_at_code_end:
                return super()._generate_single_turn(*args, **kwargs)
            with _ending_after_code_block(self):
                return super()._generate_single_turn(*args, **kwargs)

        def _generate_and_score_completions(self, inputs):
            batch = super()._generate_and_score_completions(inputs)
            if not self.drop_zero_std_groups or not self.model.training:
                return batch
            if self.accelerator.num_processes > 1:
                # Ranks would hold different batch sizes; the filter is single-process only.
                return batch
            batch, kept, total = keep_informative_groups(batch, self.num_generations,
                                                         renormalise=self.renormalise_kept_groups)
            self._metrics["train"]["groups_kept"].append(kept / max(1, total))
            return batch

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            """A micro-batch whose every advantage is zero (no group had spread) has a loss and
            a gradient of exactly zero when nothing else enters the loss (no KL, no entropy
            bonus): return that zero without the forward and backward passes, which on a CPU
            cost minutes per step on long repair prompts and change nothing."""
            if (self.drop_zero_std_groups and self.model.training and not return_outputs and self.beta == 0.0
                    and not getattr(self.args, "entropy_coef", 0.0) and not inputs["advantages"].any()):
                trainable = [p for p in model.parameters() if p.requires_grad]
                return sum(p.sum() for p in trainable[:1]) * 0.0
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    return PatchloopGRPOTrainer


def build_dataset(cfg: GRPORunConfig):
    from datasets import Dataset

    d = cfg.data
    if d.kind == "repair":
        return Dataset.from_list(repair_rows(cfg))
    rows = training_rows(d, "rl", cfg.train.seed)
    if not rows:
        raise ValueError(f"{d.path}:{d.split}: no tasks left after filtering (levels={d.levels}, families={d.families})")
    return Dataset.from_list(grpo_rows(rows, d.prompt_format))


def repair_rows(cfg: GRPORunConfig) -> list[dict]:
    """Repair rows for GRPO (``data.kind: repair``): chat prompts, no rows held back (the
    dataset's own validation split is measured with ``eval repair``)."""
    from patchloop.rl.repair_data import repair_training_rows

    d = cfg.data
    if d.prompt_format != "chat" or d.validation_size:
        raise ValueError("data.kind=repair: set data.prompt_format=chat and data.validation_size=0 (measure the "
                         "dataset's validation split with `patchloop eval repair`)")
    return repair_training_rows(d.path, d.split, seed=cfg.train.seed, max_samples=d.max_samples,
                                on_error=lambda e: log.warning("%s", e))


def task_reward(cfg: GRPORunConfig):
    """The execution reward the data kind asks for: function tests, or the repair grader."""
    if cfg.data.kind == "repair":
        from patchloop.rl.repair_reward import RepairReward

        return RepairReward(backend=cfg.reward.backend, timeout_s=cfg.reward.repair_timeout_s, workers=2,
                            max_completion_tokens=cfg.max_completion_length)
    return build_reward(cfg.reward, cfg.data.prompt_format)


def group_and_vllm_kwargs(cfg, cuda: bool | None = None) -> tuple[dict, dict]:
    """The trainer arguments every GRPO run shares (single-turn and the agent's): the training
    settings, checked that a step holds whole groups, and vLLM's where the run asks for it."""
    cuda = has_cuda() if cuda is None else cuda
    kw = training_kwargs(cfg.train, cuda, cfg.model)
    batch = kw["per_device_train_batch_size"] * kw["gradient_accumulation_steps"]  # TRL's generation batch
    if batch % cfg.num_generations:
        raise ValueError(f"train.per_device_train_batch_size x gradient_accumulation_steps ({batch}) must be a "
                         f"multiple of num_generations ({cfg.num_generations}): each step samples whole groups")
    extra = {}
    if cfg.use_vllm:
        if not cuda:
            raise ValueError("use_vllm needs a CUDA GPU; set use_vllm=false on CPU")
        extra = {"use_vllm": True, "vllm_mode": cfg.vllm_mode,
                 "vllm_gpu_memory_utilization": cfg.vllm_gpu_memory_utilization}
    return kw, extra


def grpo_args(cfg: GRPORunConfig, cuda: bool | None = None):
    """TRL's ``GRPOConfig`` for this run, on this machine or (``cuda=True``) on a GPU."""
    from trl import GRPOConfig

    kw, extra = group_and_vllm_kwargs(cfg, cuda)
    return GRPOConfig(
        **kw, **extra, num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature, top_p=cfg.top_p, beta=cfg.beta, loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards, epsilon=cfg.epsilon, epsilon_high=cfg.epsilon_high,
        num_iterations=cfg.num_iterations, mask_truncated_completions=cfg.mask_truncated_completions,
        entropy_coef=cfg.entropy_coef, log_completions=False,
    )


@contextmanager
def _rollout_func_is_ours():
    """TRL warns that ``rollout_func`` is experimental at construction; we rely on it knowingly
    (tests pin its contract), so the warning is silenced for that call only."""
    import os

    before = os.environ.get("TRL_EXPERIMENTAL_SILENCE")
    os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TRL_EXPERIMENTAL_SILENCE", None)
        else:
            os.environ["TRL_EXPERIMENTAL_SILENCE"] = before


def engine_rollout(cfg: GRPORunConfig, model, tok, dataset, timer):
    """The ``rollout_func`` sampling through the generation interface (None: TRL samples)."""
    if cfg.engine == "trl":
        return None
    import json

    from patchloop.llm.generation.engines import open_generator
    from patchloop.rl.engine_rollouts import EngineRollout

    if not cfg.lora.enabled:
        raise ValueError(f"engine={cfg.engine}: rollouts through an engine train a LoRA adapter (lora.enabled: true)")
    out = Path(cfg.train.output_dir)
    gen = open_generator(cfg.engine, model.config._name_or_path, log_dir=out / "engine")
    end = tok.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tok.get_vocab() else tok.eos_token_id
    repair = cfg.data.kind == "repair"
    entry = {json.dumps(r["prompt"], sort_keys=True): r["entry_point"] for r in dataset} \
        if cfg.data.prompt_format == "chat" and not repair else {}
    return EngineRollout(gen, out / "engine-policy", max_tokens=cfg.max_completion_length,
                         temperature=cfg.temperature, top_p=cfg.top_p, entry_points=entry, end_token_id=end,
                         settled=repair_settled if repair else None, weight_sync=cfg.weight_sync,
                         seed=cfg.train.seed, timer=timer, is_cap=cfg.is_cap)


def build_trainer(cfg: GRPORunConfig):
    """The configured ``GRPOTrainer``, tokenizer and reward (close it when done)."""
    from transformers import PrinterCallback

    out = Path(cfg.train.output_dir)
    dump_config(cfg, out / "config.yaml")
    set_cpu_threads(cfg.train.cpu_threads)
    dataset = build_dataset(cfg)
    model, tok = load_model(cfg.model, keep_merged_in=out / "start" if cfg.lora.enabled else None)
    reward = task_reward(cfg)
    timer = StepTimer()
    callbacks = run_callbacks(out, "grpo", cfg.train.max_wall_s, timer=timer)
    rollout = engine_rollout(cfg, model, tok, dataset, timer)
    with _rollout_func_is_ours():
        trainer = _trainer_class()(model=model, reward_funcs=[_TimedReward(reward, timer)], args=grpo_args(cfg),
                                   train_dataset=dataset, processing_class=tok, peft_config=peft_config(cfg.lora),
                                   callbacks=callbacks, rollout_func=rollout)
    trainer.rollout_engine = rollout.gen if rollout is not None else None
    trainer.drop_zero_std_groups = cfg.drop_zero_std_groups
    trainer.renormalise_kept_groups = cfg.renormalise_kept_groups
    trainer.stop_at_code_end = cfg.stop_at_code_end and cfg.data.prompt_format == "chat"
    trainer.remove_callback(PrinterCallback)  # raw log dicts on stdout; ProgressCallback says it readably
    timer.wrap(trainer, "_generate", "generation_s")
    return trainer, tok, reward


def run_grpo(cfg: GRPORunConfig) -> Path:
    """Train (resuming from the newest checkpoint); return the final model (or adapter) directory."""
    from patchloop.rl.validation import validate_run

    trainer, tok, reward = build_trainer(cfg)
    out = cfg.train.output_dir
    resume = last_checkpoint(out) if cfg.train.resume else None
    if resume:
        log.info("resuming GRPO from %s", resume)
    elif cfg.validation.before:
        validate_run(cfg, trainer.model, tok, out, "before", "rl")
    try:
        trainer.train(resume_from_checkpoint=resume)
    finally:
        reward.close()
        if trainer.rollout_engine is not None:
            trainer.rollout_engine.close()
    final = save_final(trainer, tok, out, cfg.lora)
    validate_run(cfg, trainer.model, tok, out, "after", "rl")
    return final
