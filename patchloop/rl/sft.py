"""``patchloop train sft``: TRL ``SFTTrainer`` on prompt / canonical-solution pairs.

Loss is on the completion only (the task prompt is given, not learned); the end-of-turn token
is appended by TRL, which is what teaches an untrained model to stop. LoRA is optional.
Runs resume from the newest finished checkpoint in ``train.output_dir``.
"""

from __future__ import annotations

from pathlib import Path

from patchloop.rl.callbacks import run_callbacks
from patchloop.rl.common import load_model, peft_config, set_cpu_threads, train_and_save, training_kwargs
from patchloop.rl.config import SFTRunConfig, dump_config
from patchloop.rl.data import sft_rows, training_rows


def build_dataset(cfg: SFTRunConfig):
    from datasets import Dataset

    d = cfg.data
    rows = training_rows(d, "sft", cfg.train.seed)
    return Dataset.from_list(sft_rows(rows, d.prompt_format))


def sft_args(cfg: SFTRunConfig, cuda: bool | None = None):
    """TRL's ``SFTConfig`` for this run, on this machine or (``cuda=True``) on a GPU."""
    from trl import SFTConfig

    return SFTConfig(**training_kwargs(cfg.train, cuda, cfg.model), max_length=cfg.max_length,
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
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok,
                         peft_config=peft_config(cfg.lora), callbacks=run_callbacks(out, name, cfg.train.max_wall_s))
    trainer.remove_callback(PrinterCallback)  # raw log dicts on stdout; ProgressCallback says it readably
    return trainer, tok


def run_sft(cfg: SFTRunConfig) -> Path:
    """Train (resuming from the newest checkpoint); return the final model (or adapter) directory."""
    trainer, tok = build_trainer(cfg)
    return train_and_save(trainer, tok, cfg, "SFT")
