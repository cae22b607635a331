"""Training configs: pydantic models loaded from YAML presets, every field overridable from the CLI.

A preset under ``configs/`` is the whole story of a run; overrides are ``dotted.key=value``
strings (values parsed as YAML, so ``lora.r=16`` is an int and ``report_to=[]`` a list).
The resolved config is written next to the checkpoints, so a run can be reproduced from its
output directory alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


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


class ConfigError(ValueError):
    """A preset or override that does not make a valid config (message names the key and cause)."""


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {key!r}: {p!r} is not a section")
        node = nxt
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """``["train.seed=3", "lora.enabled=true"]`` -> [(key, yaml-parsed value)]."""
    out = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE (e.g. train.learning_rate=1e-4)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({e.__class__.__name__})") from None
        # YAML reads 1e-4 as a string; numbers are what people mean.
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value for c in ".eE") else value
            except ValueError:
                pass
        out.append((key, value))
    return out


# A section named as a flag means its main key: ``--model X`` sets ``model.name_or_path``.
SECTION_FLAGS = {"model": "model.name_or_path", "data": "data.path", "dataset": "data.path",
                 "lora": "lora.enabled", "output": "train.output_dir"}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def config_keys(cls: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every leaf key of a config class as ``dotted.path -> pydantic FieldInfo``."""
    out: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.update(config_keys(ann, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = field
    return out


def flag_names(cls: type[BaseModel]) -> dict[str, str]:
    """Every name a flag may use for a key: its dotted path, its last part where no other key
    shares it (``max_steps`` for ``train.max_steps``), and the section shorthands."""
    keys = list(config_keys(cls))
    names = {k: k for k in keys}
    leaves: dict[str, list[str]] = {}
    for k in keys:
        leaves.setdefault(k.rsplit(".", 1)[-1], []).append(k)
    names.update({leaf: ks[0] for leaf, ks in leaves.items() if len(ks) == 1 and leaf not in names})
    names.update({flag: key for flag, key in SECTION_FLAGS.items() if key in keys})
    return names


def _is_bool(field: Any) -> bool:
    ann = field.annotation
    return ann is bool or (getattr(ann, "__args__", None) is not None and set(ann.__args__) <= {bool, type(None)})


def _resolve(cls: type[BaseModel], raw: str) -> str:
    import difflib

    key = raw.strip().lstrip("-").replace("-", "_")
    names = flag_names(cls)
    if key in names:
        return names[key]
    if "." in key and key.split(".", 1)[0] in cls.model_fields:
        return key  # a dotted key under a real section: pydantic names what is wrong with it
    close = dict.fromkeys(names[c] for c in difflib.get_close_matches(key, list(names), n=6, cutoff=0.6))
    hint = f" (did you mean {', '.join(list(close)[:3])}?)" if close else ""
    raise ConfigError(f"unknown option {raw!r}{hint}; `--dry-run` lists every key")


def cli_overrides(cls: type[BaseModel], args: list[str]) -> list[str]:
    """Command-line words -> ``dotted.key=value`` overrides. Accepts ``key=value``,
    ``--key=value``, ``--key value``, ``--flag``/``--no-flag`` for booleans, with dashes or
    underscores, and a key's last part where it is unique (``--max-steps 20``)."""
    keys = config_keys(cls)
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if not word.startswith("--"):
            name, sep, value = word.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"override {word!r}: expected KEY=VALUE (e.g. train.learning_rate=1e-4)")
            out.append(f"{_resolve(cls, name)}={value}")
            continue
        name, sep, value = word[2:].partition("=")
        if sep:
            out.append(f"{_resolve(cls, name)}={value}")
            continue
        norm = name.replace("-", "_")
        negated = norm.startswith("no_") and norm not in flag_names(cls)
        key = _resolve(cls, norm[3:] if negated else norm)
        if _is_bool(keys[key]):
            nxt = args[i].lower() if i < len(args) else ""
            if not negated and nxt in _TRUE | _FALSE:  # --lora false
                out.append(f"{key}={nxt}")
                i += 1
            else:
                out.append(f"{key}={'false' if negated else 'true'}")
            continue
        if negated:
            raise ConfigError(f"option {word!r}: {key} is not a yes/no setting")
        if i >= len(args):
            raise ConfigError(f"option {word!r} needs a value")
        out.append(f"{key}={args[i]}")
        i += 1
    return out


def describe_keys(cls: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(flag, dotted key, first line of its docstring) for every key: the ``--dry-run`` table."""
    names = flag_names(cls)
    shortest: dict[str, str] = {}
    for flag, key in names.items():
        rank = (len(flag), flag not in SECTION_FLAGS)  # --data over --path
        if key not in shortest or rank < (len(shortest[key]), shortest[key] not in SECTION_FLAGS):
            shortest[key] = flag
    return [("--" + shortest[k].replace("_", "-"), k, (f.description or "").split("\n")[0])
            for k, f in config_keys(cls).items()]


def load_config(cls: type[BaseModel], path: str | Path | None, overrides: list[str] | None = None):
    """Load ``cls`` from a YAML preset (or defaults when ``path`` is None) and apply overrides
    (command-line words in any form ``cli_overrides`` accepts)."""
    data = read_preset(path) if path is not None else {}
    return config_from_data(cls, data, overrides, str(path or cls.__name__))


def read_preset(path: str | Path) -> dict[str, Any]:
    """A YAML preset as a mapping (``ConfigError`` naming the file and the cause)."""
    p = Path(path)
    try:
        loaded = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(loaded).__name__}")
    return loaded or {}


def config_from_data(cls: type[BaseModel], data: dict[str, Any], overrides: list[str] | None, where: str):
    """``cls`` from a preset's mapping plus overrides; ``where`` names the source in errors
    (the command line, for a key an override set)."""
    given = {}
    for key, value in parse_overrides(cli_overrides(cls, overrides or [])):
        _set_dotted(data, key, value)
        given[key] = value
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        source = f"command line: {loc}={given[loc]!r}" if loc in given else f"{where}: {loc}"
        raise ConfigError(f"{source}: {first['msg']} ({e.error_count()} error(s))") from None


def dump_config(cfg: BaseModel, path: str | Path) -> None:
    """Write the resolved config as YAML (next to the checkpoints it produced); refuse
    (:class:`ConfigError`) a config that differs from that of a run it would resume."""
    from patchloop.rl.resume_guard import refusal

    why = refusal(cfg.model_dump(mode="json"), Path(path))
    if why:
        raise ConfigError(why)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
