"""Configs of agentic training: where the rollouts come from and how they are run, then what
RFT and DPO make of them. YAML presets under ``configs/agentic-*``, every key overridable from
the command line (``patchloop.rl.config.load_config``), like the single-turn trainers' configs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from patchloop.agent.state import AgentConfig
from patchloop.rl.config import LoraSettings, ModelSettings, TrainSettings, _Strict


class AgentSettings(AgentConfig):
    """The agent's own config (``patchloop batch`` uses the same one), strict about unknown keys."""

    model_config = ConfigDict(extra="forbid")
    retry_temperature: float = Field(0.0, ge=0)
    """Rollouts sample every reply at the run's own temperature (0: no raise after a failed
    reply), so what is trained on was drawn as the settings say."""
    leave_out_repeats: bool = False
    """Rollouts send the whole conversation, so each prompt extends the one before and a
    trajectory is one sequence of token ids to train on (a left-out step would split it)."""


class RolloutSettings(_Strict):
    tasks: str = "builtin"
    """SWE-style tasks to roll out on: a JSONL/JSON/parquet file or saved dataset (``train.jsonl``
    of ``patchloop datagen repos``), or ``builtin`` for the instances in ``examples/swe``."""
    instances: list[str] | None = None
    """Only these instance ids (None: every task in the file)."""
    max_tasks: int | None = None
    """At most this many tasks, in file order (None: all)."""
    samples_per_task: int = Field(4, ge=1)
    """Rollouts per task (k). Growing it later adds rollouts to the same directory."""
    model: str | None = None
    """The model that acts, as ``--model`` of ``patchloop batch`` (``openai:NAME`` with
    ``base_url`` for vLLM or ``patchloop serve``); None: ``hf:`` the run's start model."""
    base_url: str | None = None
    """OpenAI-compatible endpoint for an ``openai:`` model."""
    temperature: float = Field(1.0, ge=0)
    """Sampling temperature of every model call (0: greedy, and the k rollouts repeat each other)."""
    top_p: float = 1.0
    """Nucleus sampling."""
    seed: int = 0
    """Each rollout's sampling seed is derived from this, the task and the sample number."""
    workers: int = Field(2, ge=1)
    """Rollouts at the same time, each in its own sandbox: model calls of one overlap the test
    runs of another."""
    executor: Literal["local", "ray"] = "local"
    """``local``: a thread pool over one sandbox pool; ``ray``: one Ray actor per worker, each
    owning its sandboxes (``ray.init()`` local unless ``ray_address``)."""
    ray_address: str | None = None
    """A Ray cluster to run the actors on."""
    backend: Literal["auto", "docker", "local"] = "auto"
    """Sandbox backend of the agent and of the grader (``auto``: Docker when an engine answers)."""
    agent: AgentSettings = Field(default_factory=AgentSettings)
    """The agent's limits and prompts, with ``patchloop batch``'s defaults (presets shorten the episodes)."""
    rollout_wall_s: float | None = None
    """Hard limit on one rollout, model calls and tools included: past it the rollout is
    abandoned and recorded masked (``hang``). None: ``agent.max_wall_s`` plus 120 s."""
    grade_timeout_s: float = 300.0
    """Time limit of the harness's test run when grading a rollout's diff."""
    mask_exit_reasons: list[str] = Field(default_factory=lambda: ["context_full", "max_wall_s"])
    """Episode endings recorded as masked rather than graded (DeepSWE masks episodes cut by
    context or time: their failure says nothing about the policy). Add ``max_steps`` to mask
    step-limited ones too."""
    output_dir: str | None = None
    """Where ``rollouts.jsonl``, ``trajectories/`` and ``settings.json`` go; None:
    ``<train.output_dir>/rollouts``. Point two runs at one directory to train both on the same rollouts."""

    @field_validator("agent")
    @classmethod
    def _nobody_approves(cls, v: AgentSettings) -> AgentSettings:
        if v.approve != "auto":
            raise ValueError("rollouts run unattended: agent.approve must be 'auto'")
        return v

    def directory(self, train_dir: str | Path) -> Path:
        return Path(self.output_dir) if self.output_dir else Path(train_dir) / "rollouts"


class _AgentRun(_Strict):
    """What agentic RFT and DPO share: a start model that also acts, LoRA, training, rollouts."""

    model: ModelSettings = Field(default_factory=ModelSettings)
    """Start model: the one the rollouts sample from (unless ``rollouts.model`` names a server
    serving it) and the one trained."""
    lora: LoraSettings = Field(default_factory=lambda: LoraSettings(enabled=True))
    """LoRA on the start model (for DPO the reference is the start with the adapter off)."""
    train: TrainSettings = Field(default_factory=TrainSettings)
    """Optimisation and output."""
    rollouts: RolloutSettings = Field(default_factory=RolloutSettings)
    """How the training trajectories are made (run first, resumed, skipped when finished)."""
    max_length: int = 8192
    """Longest training sequence in tokens (a trajectory segment is at most the agent's context)."""


class AgentRFTConfig(_AgentRun):
    """Agentic rejection-sampling fine-tuning (SWE-Gym): SFT on the resolved trajectories, the
    loss on the model's own tokens only (tool outputs and prompts masked)."""

    max_kept_per_task: int = Field(2, ge=1)
    """At most this many distinct resolved trajectories of one task, so easy tasks do not crowd out hard ones."""


class AgentDPOConfig(_AgentRun):
    """Agentic DPO: a resolved trajectory of a task chosen over an unresolved one of the same task."""

    max_pairs_per_task: int = Field(2, ge=1)
    """At most this many (chosen, rejected) pairs of one task; each trajectory is used once."""
    beta: float = 0.1
    """DPO temperature: how far the policy may move from the reference."""
    loss_type: str = "sigmoid"
    """TRL DPO loss (``sigmoid`` is the paper's)."""
    precompute_ref_log_probs: bool = False
    """Compute the reference log-probs once before training."""


class AgentRolloutsConfig(_Strict):
    """Rollouts alone (``patchloop train agent-rollouts``): the stage RFT and DPO start with."""

    model: ModelSettings = Field(default_factory=ModelSettings)
    """The model that acts (``hf:`` it, unless ``rollouts.model`` is set)."""
    rollouts: RolloutSettings = Field(default_factory=lambda: RolloutSettings(output_dir="runs/agent-rollouts"))
    """What to roll out and where to write it."""


def load_rollouts_config(path: str | Path | None, overrides: list[str] | None = None) -> AgentRolloutsConfig:
    """An ``AgentRolloutsConfig`` from its own preset or from an agentic RFT/DPO preset (its
    ``model`` and ``rollouts`` sections, and the rollouts directory that run would use), so
    ``agent-rollouts -c configs/agentic-rft-....yaml`` runs exactly the first stage of that run."""
    from patchloop.rl.config import config_from_data, read_preset

    data = read_preset(path) if path is not None else {}
    if set(data) - {"model", "rollouts"}:
        rollouts = dict(data.get("rollouts") or {})
        train_dir = (data.get("train") or {}).get("output_dir", TrainSettings().output_dir)
        rollouts.setdefault("output_dir", str(Path(train_dir) / "rollouts"))
        data = {"model": data.get("model") or {}, "rollouts": rollouts}
    return config_from_data(AgentRolloutsConfig, data, overrides, str(path or "AgentRolloutsConfig"))


class GRPORolloutSettings(RolloutSettings):
    """Rollouts acted by the policy in training, each step (``samples_per_task``, ``model``,
    ``base_url`` and ``executor`` do not apply: ``num_generations`` per task, in this process)."""

    mask_exit_reasons: list[str] = Field(default_factory=lambda: ["max_steps", "context_full", "max_wall_s"])
    """Episode endings masked rather than scored: GRPO++ (DeepSWE) masks episodes cut by the step,
    context or time limit, whose failure says nothing about what the policy did."""

    @field_validator("executor")
    @classmethod
    def _here(cls, v: str) -> str:
        if v != "local":
            raise ValueError("GRPO's rollouts run in the training process: rollouts.executor must be 'local'")
        return v

    @field_validator("model")
    @classmethod
    def _policy_acts(cls, v: str | None) -> str | None:
        if v:
            raise ValueError("GRPO's rollouts are acted by the policy in training: leave rollouts.model unset")
        return v


class AgentGRPOConfig(_Strict):
    """Multi-turn GRPO of the agent: TRL's ``GRPOTrainer`` whose ``rollout_func`` runs the agent
    itself (its tools, prompts and sandboxes) with the policy being trained, ``num_generations``
    rollouts per task per step, rewarded by the harness's verdict on each diff. The defaults are
    DeepSWE's GRPO++: no KL, clip-high, no reward scaling with a constant length normaliser
    (Dr. GRPO), episodes cut by a limit masked rather than scored 0."""

    model: ModelSettings = Field(default_factory=ModelSettings)
    """The policy's start: the model that acts in the rollouts and is trained."""
    lora: LoraSettings = Field(default_factory=lambda: LoraSettings(enabled=True))
    """LoRA on the start model (the base stays frozen)."""
    train: TrainSettings = Field(default_factory=TrainSettings)
    """Optimisation and output; ``per_device_train_batch_size`` counts rollouts, a multiple of
    ``num_generations`` (one optimiser step = that many rollouts, gradient accumulation aside)."""
    rollouts: GRPORolloutSettings = Field(default_factory=GRPORolloutSettings)
    """What the policy acts on and how: tasks, sampling, parallel sandboxes, the agent's limits,
    grading, masking (``max_steps`` too). Written per step to ``<rollouts dir>/step-N``, so a
    resumed run reuses the rollouts its last step had finished."""
    num_generations: int = Field(8, ge=2)
    """Rollouts per task per step: the group each advantage is relative to."""
    beta: float = 0.0
    """KL coefficient against the start policy (0: no KL term and no reference model)."""
    loss_type: str = "dr_grpo"
    """TRL loss aggregation: ``dr_grpo`` divides by a constant (``max_completion_length``), so a
    long trajectory's tokens weigh what a short one's do; ``dapo`` normalises by the tokens in the batch."""
    scale_rewards: str = "none"
    """Advantage scaling: ``none`` (Dr. GRPO: no division by the group's std), ``group`` or ``batch``."""
    epsilon: float = 0.2
    """PPO clip range (lower)."""
    epsilon_high: float | None = 0.28
    """Upper clip (DAPO's clip-higher), so rare good tokens can still grow."""
    num_iterations: int = Field(1, ge=1)
    """Optimisation passes over one step's rollouts."""
    max_completion_length: int = 16384
    """``dr_grpo``'s normaliser: about the most tokens after the first prompt (sampled and tool
    output) a trajectory can have; it also bounds vLLM's generation length."""
    use_vllm: bool = False
    """Generate with TRL's vLLM engine (GPU only); the agent's model calls then go to it."""
    vllm_mode: Literal["colocate"] = "colocate"
    """vLLM in the training process, the engine the agent's model calls go to (TRL's server
    mode is not wired to the agent)."""
    vllm_gpu_memory_utilization: float = 0.3
    """GPU memory share for vLLM in colocate mode."""
