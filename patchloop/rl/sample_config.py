"""Configs of the trainers that sample first and learn offline: RFT and DPO.

Both draw ``sampling.num_samples`` completions per training prompt from the start model and
grade each with the execution reward GRPO trains on (``patchloop.rl.rewards.ExecutionReward``,
all tests must pass). RFT then fine-tunes on the passing samples; DPO pairs a passing with a
failing sample of the same prompt. Loaded from YAML presets like the SFT and GRPO configs
(``patchloop.rl.config.load_config``), every key overridable from the command line.
"""

from __future__ import annotations

from pydantic import Field

from patchloop.rl.config import (
    DataSettings,
    LoraSettings,
    ModelSettings,
    TrainSettings,
    ValidationSettings,
    _Strict,
)


class SamplingSettings(_Strict):
    num_samples: int = Field(8, ge=1)
    """Completions sampled per training prompt (k)."""
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature: too low and the k samples repeat each other."""
    top_p: float = 1.0
    """Nucleus sampling."""
    max_new_tokens: int = 256
    """Generation limit per completion."""
    prompts_per_batch: int = Field(2, ge=1)
    """Prompts per ``generate`` call; each brings ``num_samples`` sequences, so one call decodes
    ``prompts_per_batch * num_samples`` sequences together (batched decoding is what makes the
    CPU fast enough)."""
    stop_at_code_end: bool = True
    """Stop a sequence when its code ends (the closing fence in chat format, the first unindented
    line in completion format) instead of running to ``max_new_tokens``; the text after the stop
    is cut off."""
    seed: int = 0
    """Seed of the sampler (each batch is seeded from it and the position of its first prompt)."""
    engine: str = "model"
    """Who samples: ``model`` (the start model loaded for training, ``transformers.generate``), or
    an engine of the generation interface: ``auto`` (the fastest this machine has), ``vllm``,
    ``hf``, or an OpenAI-compatible server's URL. Engines end a chat answer where the grader
    stops reading and batch every request in flight."""
    max_wall_s: float | None = None
    """Start no new batch after this many seconds of sampling (in this process): the prompts not
    reached are left out, so a run fits a time budget (the learning benchmark gives RFT and DPO
    the same total time as GRPO). None: sample every training prompt."""


class GraderSettings(_Strict):
    timeout_s: float = 5.0
    """Wall-clock limit per completion in the sandbox."""
    backend: str = "auto"
    """Sandbox backend: ``auto`` (Docker if an engine runs, else local), ``docker``, ``local``."""


class _SampledRun(_Strict):
    """What RFT and DPO share: a start model that also samples, prompts with tests, a grader."""

    model: ModelSettings = Field(default_factory=ModelSettings)
    """Start model (also the sampler)."""
    data: DataSettings = Field(default_factory=DataSettings)
    """Training prompts with tests (None split = ``rl``: no reference solution is needed)."""
    lora: LoraSettings = Field(default_factory=LoraSettings)
    """Optional LoRA (for DPO the reference policy is then the base with the adapter disabled)."""
    train: TrainSettings = Field(default_factory=TrainSettings)
    """Optimisation and output (samples and what was made of them are written to ``output_dir`` too)."""
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    """How the candidates are drawn."""
    grader: GraderSettings = Field(default_factory=GraderSettings)
    """Where they are graded."""
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    """Validation pass@1 on tasks held back from the training split."""


class RFTRunConfig(_SampledRun):
    """Rejection-sampling fine-tuning: sample, keep what passes, SFT on it (TRL SFTTrainer)."""

    max_kept_per_prompt: int = Field(2, ge=1)
    """At most this many distinct passing completions of one prompt are kept (m), so easy
    prompts do not crowd out the hard ones."""
    max_length: int = 1024
    """Truncate prompt+completion to this many tokens."""
    completion_only_loss: bool = True
    """Loss on the completion tokens only."""


class DPORunConfig(_SampledRun):
    """Direct preference optimisation on pairs built by execution (TRL DPOTrainer)."""

    pairs: str | None = None
    """A preference dataset to train on (``pairs.jsonl`` of an earlier run, or a saved dataset
    with ``prompt``/``chosen``/``rejected``); None = sample and build it in ``output_dir``."""
    max_pairs_per_prompt: int = Field(2, ge=1)
    """At most this many (chosen, rejected) pairs from one prompt's samples."""
    beta: float = 0.1
    """DPO temperature: how far the policy may move from the reference."""
    loss_type: str = "sigmoid"
    """TRL DPO loss (``sigmoid`` is the paper's; ``ipo``, ``hinge``, ...)."""
    max_length: int = 1024
    """Truncate prompt+answer to this many tokens."""
    precompute_ref_log_probs: bool = False
    """Compute the reference log-probs once before training (saves a forward pass per step)."""

