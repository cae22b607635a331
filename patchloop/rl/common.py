"""What SFT and GRPO share: loading the model and tokenizer, LoRA, TrainingArguments fields,
checkpoint discovery for resume, and saving the final HF directory (adapter or merged)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from patchloop.evals.waiting import alive
from patchloop.llm.catalog.checkpoints import last_checkpoint, resolve_checkpoint
from patchloop.rl.config import LoraSettings, ModelSettings, TrainSettings

log = logging.getLogger(__name__)


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def set_cpu_threads(threads: int | None) -> None:
    """Pin torch's intra-op threads when there is no GPU (see ``TrainSettings.cpu_threads``)."""
    if threads and not has_cuda():
        import torch

        torch.set_num_threads(threads)


def load_model(settings: ModelSettings, keep_merged_in: str | Path | None = None):
    """Base model (+ an adapter merged in, e.g. GRPO starting from an SFT LoRA) and tokenizer.

    With ``keep_merged_in`` (a run that trains a new LoRA adapter on this start), a merged start
    is also written there, once, and named as the model's path: the new adapter's
    ``adapter_config.json`` then names the model it was really trained on. Naming the bare base
    instead would make every later load (serve, eval, the agent) silently drop the first adapter."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from patchloop.llm.catalog.models import resolve_model_path

    settings = settings.model_copy(update={"name_or_path": resolve_model_path(settings.name_or_path)})
    path = Path(settings.name_or_path)
    if not path.exists() and settings.name_or_path.startswith(("/", ".", "runs/")):
        raise FileNotFoundError(f"model {settings.name_or_path}: no such directory")
    adapter = settings.adapter
    if path.is_dir():  # an earlier stage's run dir, final dir or LoRA adapter works as a start
        base, found = resolve_checkpoint(path)
        if found and adapter:
            raise ValueError(f"model {path} is a LoRA adapter already; drop model.adapter={adapter}")
        settings = settings.model_copy(update={"name_or_path": base, "adapter": found or adapter})
    kw: dict[str, Any] = {"dtype": getattr(torch, weights_dtype(settings, "cuda" if has_cuda() else "cpu"))}
    if settings.attn_implementation:
        kw["attn_implementation"] = settings.attn_implementation
    tok = AutoTokenizer.from_pretrained(settings.name_or_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    with alive(f"loading {settings.name_or_path}"):  # a 1.5B model takes tens of seconds on a CPU
        model = AutoModelForCausalLM.from_pretrained(settings.name_or_path, **kw)
    if settings.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, settings.adapter).merge_and_unload()
        if keep_merged_in is not None:
            start = Path(keep_merged_in).resolve()
            if not (start / "config.json").exists():  # a resumed run wrote it already
                model.save_pretrained(str(start))
                tok.save_pretrained(str(start))
                (start / "MERGED_FROM.json").write_text(json.dumps(
                    {"base": settings.name_or_path, "adapter": str(Path(settings.adapter).resolve())}))
            model.config._name_or_path = model.name_or_path = str(start)  # PEFT reads the attribute
    return model, tok


def peft_config(lora: LoraSettings):
    if not lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=lora.target_modules, task_type="CAUSAL_LM")


def weights_dtype(settings: ModelSettings, device: str) -> str:
    """The dtype ``load_model`` gives ``settings`` on ``device``: ``auto`` is bfloat16 on CUDA and
    on a CPU with bf16 hardware for a bf16 checkpoint, else float32 (``llm.device``). Where a
    CPU emulates bf16 (AVX2 only), a bf16 forward pass is several times slower than float32."""
    from patchloop.llm.catalog.models import resolve_model_path
    from patchloop.llm.device import best_dtype_name, checkpoint_dtype
    from patchloop.llm.errors import LLMError

    if settings.dtype != "auto":
        return settings.dtype
    try:
        path = Path(resolve_model_path(settings.name_or_path))
    except LLMError:  # not fetched yet: loading it says so; its arguments can still be built
        return best_dtype_name(device, None)
    base = resolve_checkpoint(path)[0] if path.is_dir() else str(path)
    return best_dtype_name(device, checkpoint_dtype(base))


def training_kwargs(t: TrainSettings, cuda: bool | None = None, model: ModelSettings | None = None) -> dict[str, Any]:
    """TrainingArguments fields common to SFTConfig, GRPOConfig and DPOConfig. ``cuda`` says
    which machine they are for (None: this one), so a GPU preset's arguments can be built and
    checked on a CPU box. ``train.bf16`` unset: on where CUDA supports it, and on a CPU where
    ``model``'s weights load in bfloat16 (so only where the CPU has bf16 hardware)."""
    import torch

    cuda = has_cuda() if cuda is None else cuda
    if t.bf16 is not None:
        bf16 = t.bf16
    elif cuda:
        bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    else:
        bf16 = model is not None and weights_dtype(model, "cpu") == "bfloat16"
    return {
        "output_dir": t.output_dir, "seed": t.seed, "data_seed": t.seed, "learning_rate": t.learning_rate,
        "lr_scheduler_type": t.lr_scheduler_type, "warmup_steps": t.warmup_steps, "max_steps": t.max_steps,
        "num_train_epochs": t.num_train_epochs, "per_device_train_batch_size": t.per_device_train_batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps, "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm, "logging_steps": t.logging_steps, "save_strategy": "steps",
        "save_steps": t.save_steps, "save_total_limit": t.save_total_limit, "report_to": list(t.report_to),
        "gradient_checkpointing": t.gradient_checkpointing, "bf16": bf16, "use_cpu": not cuda,
        "dataloader_num_workers": 0, "disable_tqdm": True,
    }


def train_and_save(trainer, tok, cfg, name: str) -> Path:
    """Train from the newest checkpoint in ``cfg.train.output_dir`` (when ``cfg.train.resume``
    finds one, so a killed run goes on where it stopped) and save the final directory
    (:func:`save_final`); what every trainer's run does once its trainer is built."""
    resume = last_checkpoint(cfg.train.output_dir) if cfg.train.resume else None
    if resume:
        log.info("resuming %s from %s", name, resume)
    trainer.train(resume_from_checkpoint=resume)
    return save_final(trainer, tok, cfg.train.output_dir, cfg.lora)


def save_final(trainer, tok, output_dir: str | Path, lora: LoraSettings) -> Path:
    """Write ``<output_dir>/final`` (adapter or full model, plus tokenizer) and, for LoRA with
    ``merge``, ``<output_dir>/merged``; return the directory to load for inference."""
    out = Path(output_dir)
    final = out / "final"
    trainer.save_model(str(final))
    tok.save_pretrained(str(final))
    target = final
    if lora.enabled and lora.merge:
        merged = trainer.model.merge_and_unload() if hasattr(trainer.model, "merge_and_unload") else trainer.model
        merged.save_pretrained(str(out / "merged"))
        tok.save_pretrained(str(out / "merged"))
        target = out / "merged"
    (out / "DONE.json").write_text(json.dumps({"model": str(target), "adapter": lora.enabled and not lora.merge}))
    return target
