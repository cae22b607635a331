"""``patchloop train sft``: TRL ``SFTTrainer`` on prompt / canonical-solution pairs.

Loss is on the completion only (the task prompt is given, not learned); the end-of-turn token
is appended by TRL, which is what teaches an untrained model to stop. LoRA is optional.
Runs resume from the newest finished checkpoint in ``train.output_dir``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from patchloop.llm.checkpoints import last_checkpoint
from patchloop.rl.callbacks import JsonlMetricsCallback, ProgressCallback, WallBudgetCallback
from patchloop.rl.common import (
    load_model,
    peft_config,
    save_final,
    set_cpu_threads,
    training_kwargs,
)
from patchloop.rl.config import SFTRunConfig, dump_config
from patchloop.rl.data import sft_rows, training_rows

log = logging.getLogger(__name__)


def build_dataset(cfg: SFTRunConfig):
    from datasets import Dataset

    d = cfg.data
    rows = training_rows(d, "sft", cfg.train.seed)
    return Dataset.from_list(sft_rows(rows, d.prompt_format))


def sft_args(cfg: SFTRunConfig, cuda: bool | None = None):
    """TRL's ``SFTConfig`` for this run, on this machine or (``cuda=True``) on a GPU."""
    from trl import SFTConfig

    return SFTConfig(**training_kwargs(cfg.train, cuda), max_length=cfg.max_length,
                     completion_only_loss=cfg.completion_only_loss, packing=False)


def build_trainer(cfg: SFTRunConfig, *, dataset=None, loaded=None, name: str = "sft"):
    """The configured ``SFTTrainer`` and tokenizer (the resolved config is written first).

    RFT reuses it with its own ``dataset`` (the kept samples) and the model it sampled with
    (``loaded``: model and tokenizer), having written its own config."""
    from transformers import PrinterCallback
    from trl import SFTTrainer

    out = Path(cfg.train.output_dir)
    if loaded is None:
        dump_config(cfg, out / "config.yaml")
        set_cpu_threads(cfg.train.cpu_threads)
    dataset = build_dataset(cfg) if dataset is None else dataset
    if loaded is None:
        loaded = load_model(cfg.model, keep_merged_in=out / "start" if cfg.lora.enabled else None)
    model, tok = loaded
    args = sft_args(cfg)
    callbacks = [JsonlMetricsCallback(out / "metrics.jsonl"), ProgressCallback(name)]
    if cfg.train.max_wall_s:
        callbacks.append(WallBudgetCallback(cfg.train.max_wall_s))
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok,
                         peft_config=peft_config(cfg.lora), callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # raw log dicts on stdout; ProgressCallback says it readably
    return trainer, tok


def run_sft(cfg: SFTRunConfig) -> Path:
    """Train (resuming from the newest checkpoint); return the final model (or adapter) directory."""
    trainer, tok = build_trainer(cfg)
    resume = last_checkpoint(cfg.train.output_dir) if cfg.train.resume else None
    if resume:
        log.info("resuming SFT from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    return save_final(trainer, tok, cfg.train.output_dir, cfg.lora)
