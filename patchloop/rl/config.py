"""Training configs: pydantic models loaded from YAML presets, every field overridable from the CLI.

A preset under ``configs/`` is the whole story of a run; overrides are ``dotted.key=value``
strings (values parsed as YAML, so ``lora.r=16`` is an int and ``report_to=[]`` a list).
The resolved config is written next to the checkpoints, so a run can be reproduced from its
output directory alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The loading machinery lives in config_loading; callers import every config name from here.
from patchloop.rl.config_loading import (
    ConfigError,
    cli_overrides,
    config_from_data,
    config_keys,
    describe_keys,
    dump_config,
    flag_names,
    load_config,
    parse_overrides,
    read_preset,
)


class _Strict(BaseModel):
    # Unknown keys are typos in a preset; say so instead of silently ignoring them.
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ModelSettings(_Strict):
    name_or_path: str = "runs/tiny-model"
    """Local HF directory or hub id of the base model (an earlier stage's checkpoint works too)."""
    adapter: str | None = None
    """Optional PEFT adapter directory applied (and merged) on top of the base before training."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights dtype: ``auto`` is bfloat16 on CUDA, and on a CPU with bf16 hardware for a bf16 checkpoint; else float32."""
    attn_implementation: str | None = None
    """Attention kernel for transformers (e.g. ``flash_attention_2`` on a GPU); None = library default."""


class LoraSettings(_Strict):
    enabled: bool = False
    """Train a PEFT LoRA adapter instead of all weights (base weights stay frozen)."""
    r: int = 16
    """LoRA rank."""
    alpha: int = 32
    """LoRA scaling numerator (effective scale is alpha / r)."""
    dropout: float = 0.0
    """Dropout on the LoRA path."""
    target_modules: list[str] | str = "all-linear"
    """Modules wrapped by LoRA; ``all-linear`` covers attention and MLP projections."""
    merge: bool = False
    """Also save a merged full model in ``<output_dir>/merged`` at the end (servable without PEFT)."""


class DataSettings(_Strict):
    kind: Literal["functions", "repair"] = "functions"
    """``functions``: function tasks (``datagen functions``), graded by their tests; ``repair``
    (GRPO): repair rows (``datagen repair``), each reply graded by the repair grader."""
    path: str = "runs/tasks"
    """Directory of a Hugging Face DatasetDict written by ``patchloop datagen functions``, or
    with ``kind: repair`` the output directory of ``patchloop datagen repair``."""
    split: str | None = None
    """Split to train on; None = ``sft`` (canonical solutions) for SFT, ``rl`` (tests only) for GRPO."""
    levels: list[int] | None = None
    """Keep only tasks whose ``extra.level`` is in this list (None keeps all): the curriculum knob."""
    families: list[str] | None = None
    """Keep only these task families (e.g. [arith]); None keeps all."""
    level_caps: dict[int, int] | None = None
    """At most this many distinct tasks of a level (e.g. {3: 32}): scarce labels at a hard level,
    the situation where test-only tasks are what there is plenty of."""
    level_weights: dict[int, float] | None = None
    """Resample the split so each level gets this share of rows (e.g. {2: 0.3, 3: 0.7}); None = as is."""
    max_samples: int | None = None
    """Cap on the number of training rows after filtering (None = all)."""
    validation_size: int = 0
    """Tasks of the training split held back from training and measured instead (a validation
    split drawn from the training distribution; HumanEval stays the test). The same tasks for
    every seed: the first by a hash of their ids."""
    prompt_format: Literal["completion", "chat"] = "completion"
    """``completion``: the model continues the function prompt (base/tiny models); ``chat``: the prompt
    goes in a user message and the answer is a fenced code block (instruct models)."""


class RewardSettings(_Strict):
    execution_weight: float = 1.0
    """Weight of the execution reward (tests passing in the sandbox)."""
    format_weight: float = 0.0
    """Weight of the format reward (completion stops cleanly and parses as Python)."""
    partial_credit: bool = True
    """Execution reward is the fraction of test assertions passing instead of all-or-nothing."""
    timeout_s: float = 5.0
    """Wall-clock limit per completion in the sandbox."""
    backend: str = "auto"
    """Sandbox backend for the grader: ``auto`` (Docker if an engine runs, else local), ``docker``, ``local``."""
    repair_timeout_s: float = 120.0
    """With ``data.kind: repair``: seconds for one reply's test run in its repository."""


class TrainSettings(_Strict):
    output_dir: str = "runs/train"
    """Checkpoints (HF dirs), the resolved config, TensorBoard events and ``metrics.jsonl`` go here."""
    seed: int = 0
    """Seed for data order, initialisation of LoRA weights and sampling."""
    learning_rate: float = 1e-4
    """Peak learning rate (constant schedule with warmup unless lr_scheduler_type says otherwise)."""
    lr_scheduler_type: str = "constant_with_warmup"
    """transformers scheduler name."""
    warmup_steps: int = 0
    """Linear warmup steps."""
    max_steps: int = -1
    """Optimizer steps to run (-1: run ``num_train_epochs``)."""
    num_train_epochs: float = 1.0
    """Epochs when max_steps is -1."""
    per_device_train_batch_size: int = 8
    """Rows per device per micro-batch (for GRPO: completions; times the accumulation steps, a
    multiple of num_generations)."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    logging_steps: int = 1
    """Log (JSONL, TensorBoard) every this many steps."""
    save_steps: int = 50
    """Checkpoint every this many steps (resume picks up the latest)."""
    save_total_limit: int | None = 2
    """Keep at most this many checkpoints."""
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    """transformers ``report_to`` integrations (``tensorboard``, ``wandb``; [] for none)."""
    gradient_checkpointing: bool = False
    """Trade compute for memory (large models on a GPU)."""
    bf16: bool | None = None
    """bf16 mixed precision; None = on when CUDA supports it, and on a CPU when the weights load in bf16."""
    resume: bool = True
    """Resume from the latest checkpoint in output_dir if one exists (a killed run continues)."""
    cpu_threads: int | None = 1
    """torch intra-op threads when training on CPU. 1 by default: on a small model and a shared
    machine, OpenMP threads spin against other processes (measured 20x slower generation with 2
    threads than with 1 on a busy 2-core box). None keeps torch's default (all cores)."""
    max_wall_s: float | None = None
    """Stop training cleanly after this many seconds (a time budget, used by the learning benchmark)."""


class ValidationSettings(_Strict):
    max_tokens: int = 256
    """Generation limit for the greedy validation pass@1 (the held-back tasks come from
    ``data.validation_size``; with 0 there is no validation)."""
    before: bool = True
    """Also measure the start model, so the run's figures show the change it made."""


class SFTRunConfig(_Strict):
    """Supervised fine-tuning on prompt/canonical-solution pairs."""

    model: ModelSettings = Field(default_factory=ModelSettings)
    """Base model."""
    data: DataSettings = Field(default_factory=DataSettings)
    """Training data."""
    lora: LoraSettings = Field(default_factory=LoraSettings)
    """Optional LoRA."""
    train: TrainSettings = Field(default_factory=TrainSettings)
    """Optimisation and output."""
    max_length: int = 512
    """Truncate prompt+completion to this many tokens."""
    completion_only_loss: bool = True
    """Loss on the completion tokens only (the prompt is given, not learned)."""


class GRPORunConfig(_Strict):
    """Group-relative policy optimisation on execution rewards (TRL GRPOTrainer)."""

    model: ModelSettings = Field(default_factory=ModelSettings)
    """Policy initialisation (usually the SFT checkpoint)."""
    data: DataSettings = Field(default_factory=DataSettings)
    """Prompts with tests (no solutions needed)."""
    lora: LoraSettings = Field(default_factory=LoraSettings)
    """Optional LoRA (with LoRA, the reference model for KL is the base with the adapter disabled)."""
    train: TrainSettings = Field(default_factory=TrainSettings)
    """Optimisation and output."""
    reward: RewardSettings = Field(default_factory=RewardSettings)
    """Reward shaping."""
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    """Validation pass@1 on tasks held back from the training split (``data.validation_size``)."""
    num_generations: int = 8
    """Completions sampled per prompt (the group the advantage is relative to)."""
    max_completion_length: int = 64
    """Generation limit; a completion that hits it without an end token is truncated."""
    temperature: float = 1.0
    """Sampling temperature: exploration; too low and groups have no reward variance."""
    top_p: float = 1.0
    """Nucleus sampling."""
    beta: float = 0.0
    """KL coefficient against the reference policy (0 disables KL and the reference model)."""
    loss_type: str = "dapo"
    """TRL loss aggregation (``grpo``, ``bnpo``, ``dr_grpo``, ``dapo``)."""
    scale_rewards: str = "group"
    """Advantage scaling: ``group`` std, ``batch`` std or ``none``."""
    epsilon: float = 0.2
    """PPO clip range (lower)."""
    epsilon_high: float | None = None
    """Upper clip (DAPO clip-higher); None = same as epsilon."""
    num_iterations: int = 1
    """Optimisation passes per generated batch."""
    mask_truncated_completions: bool = False
    """Leave truncated completions out of the loss."""
    entropy_coef: float = 0.0
    """Entropy bonus coefficient (keeps a low-entropy SFT policy exploring)."""
    engine: str = "trl"
    """Who samples the groups: ``trl`` (TRL's own ``generate`` in the trainer), or an engine of the
    generation interface through TRL's ``rollout_func``: ``auto`` (the fastest this machine
    has), ``vllm``, ``hf``, or an OpenAI-compatible server's URL. Engines sample on-policy (the
    adapter of each optimiser step is handed over) and stop where the grader stops reading."""
    weight_sync: Literal["auto", "adapter", "merged"] = "auto"
    """How the engine gets each step's policy: ``adapter`` (the LoRA adapter named per request),
    ``merged`` (merged into the base weights, reloaded in place: vLLM on a CPU, where its LoRA
    path is slow), ``auto`` (merged where the engine can reload weights, else adapter)."""
    is_cap: float | None = 3.0
    """With an ``engine``: weight each sampled token by its importance ratio (trained policy over
    the engine's sampler) truncated at this cap, TRL's ``token_truncate`` correction (its default
    cap); the mismatch is logged as ``sampling/*``. ``null`` turns it off (one forward pass less)."""
    stop_at_code_end: bool = False
    """End a completion right after the fence that closes its first code block (chat prompts):
    the prose an instruct model adds after its code is never graded, and in a batch the
    longest row sets the pace. The row ends with the end-of-turn token, as a finished reply."""
    drop_zero_std_groups: bool = False
    """Leave groups whose completions all scored the same out of the optimiser step (DAPO's
    dynamic sampling): they carry no advantage, only cost and dilution. Pair it with a larger
    generation batch so enough informative groups remain."""
    renormalise_kept_groups: bool = True
    """With ``drop_zero_std_groups``: normalise the loss over the kept tokens only (DAPO; a larger
    step on the groups left), or, when false, over every generated token (dropping only saves
    compute)."""
    use_vllm: bool = False
    """Generate with vLLM (GPU only)."""
    vllm_mode: Literal["colocate", "server"] = "colocate"
    """vLLM in the training process (colocate) or a separate ``trl vllm-serve`` (server)."""
    vllm_gpu_memory_utilization: float = 0.3
    """GPU memory share for vLLM in colocate mode."""

    @field_validator("num_generations")
    @classmethod
    def _group_needs_two(cls, v: int) -> int:
        if v < 2:
            raise ValueError("num_generations must be >= 2: GRPO's advantage is relative to the group")
        return v


__all__ = [
    "ConfigError",
    "cli_overrides",
    "config_from_data",
    "config_keys",
    "describe_keys",
    "dump_config",
    "flag_names",
    "load_config",
    "parse_overrides",
    "read_preset",
    "DataSettings",
    "GRPORunConfig",
    "LoraSettings",
    "ModelSettings",
    "RewardSettings",
    "SFTRunConfig",
    "TrainSettings",
    "ValidationSettings",
]
