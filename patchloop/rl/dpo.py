"""``patchloop train dpo``: TRL ``DPOTrainer`` on preference pairs built by execution.

With ``pairs`` set, trains on that dataset (an earlier run's ``pairs.jsonl`` or a saved
dataset). Otherwise samples the training prompts and grades the samples exactly as RFT does
(``patchloop.rl.sampling``, resumable ``samples.jsonl``), builds the pairs
(``patchloop.rl.pairs``) into ``<output_dir>/pairs.jsonl`` and trains on them. With LoRA the
reference policy is the start model with the adapter switched off, so no second copy is held.
"""

from __future__ import annotations

from pathlib import Path

from patchloop.rl.callbacks import run_callbacks
from patchloop.rl.common import load_model, peft_config, set_cpu_threads, train_and_save, training_kwargs
from patchloop.rl.config import dump_config
from patchloop.rl.data import DataError, refuse_humaneval_overlap, training_rows
from patchloop.rl.pairs import build_pairs, decontam_rows, load_pairs
from patchloop.rl.sample_config import DPORunConfig
from patchloop.rl.sampling import sample_and_grade
from patchloop.rl.validation import validate_run
from patchloop.types import write_json, write_jsonl


def make_pairs(cfg: DPORunConfig, loaded, *, progress: bool = True) -> Path:
    """Sample, grade and pair into ``<output_dir>/pairs.jsonl``; returns its path."""
    out = Path(cfg.train.output_dir)
    rows = training_rows(cfg.data, "rl", cfg.train.seed)
    if not rows:
        raise DataError(f"{cfg.data.path}: no training tasks left after filtering")
    records = sample_and_grade(cfg, *loaded, rows, out / "samples.jsonl", progress=progress)
    prompts = {str(r.get("task_id", "")): r["prompt"] for r in rows}
    pairs = build_pairs(records, prompts, cfg.data.prompt_format, cfg.max_pairs_per_prompt)
    stats = {"prompts": len(records), "samples": sum(len(r["samples"]) for r in records),
             "passed": sum(s["passed"] for r in records for s in r["samples"]), "pairs": len(pairs),
             "prompts_with_a_pair": len({p["task_id"] for p in pairs})}
    write_json(out / "yield.json", stats)
    print("[dpo] pairs: {pairs} from {prompts_with_a_pair} of {prompts} prompts "
          "({passed} of {samples} samples passed)".format(**stats), flush=True)
    if not pairs:
        raise ValueError("dpo: no prompt had both a passing and a failing sample; sample more "
                         "(sampling.num_samples), hotter, or from prompts nearer the model's level")
    write_jsonl(out / "pairs.jsonl", pairs)
    return out / "pairs.jsonl"


def dpo_args(cfg: DPORunConfig, cuda: bool | None = None):
    """TRL's ``DPOConfig`` for this run, on this machine or (``cuda=True``) on a GPU."""
    from trl import DPOConfig

    return DPOConfig(**training_kwargs(cfg.train, cuda, cfg.model), beta=cfg.beta, loss_type=[cfg.loss_type],
                     max_length=cfg.max_length, precompute_ref_log_probs=cfg.precompute_ref_log_probs)


def build_trainer(cfg: DPORunConfig, *, progress: bool = True):
    """The configured ``DPOTrainer`` and tokenizer (pairs built first unless ``cfg.pairs``)."""
    from transformers import PrinterCallback
    from trl import DPOTrainer

    out = Path(cfg.train.output_dir)
    dump_config(cfg, out / "config.yaml")
    set_cpu_threads(cfg.train.cpu_threads)
    args = dpo_args(cfg)
    dataset = load_pairs(cfg.pairs) if cfg.pairs else None  # a bad file fails before the model loads
    if dataset is not None:  # built pairs come from training prompts already checked; a given file is not
        refuse_humaneval_overlap(decontam_rows(dataset), f"pairs {cfg.pairs}")
    model, tok = load_model(cfg.model, keep_merged_in=out / "start" if cfg.lora.enabled else None)
    if dataset is None:
        dataset = load_pairs(make_pairs(cfg, (model, tok), progress=progress))
    if cfg.validation.before and not (out / "validation-before.json").exists():
        validate_run(cfg, model, tok, out, "before", "rl")
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset.remove_columns(
        [c for c in dataset.column_names if c == "task_id"]), processing_class=tok,
        peft_config=peft_config(cfg.lora), callbacks=run_callbacks(out, "dpo", cfg.train.max_wall_s))
    trainer.remove_callback(PrinterCallback)
    return trainer, tok


def run_dpo(cfg: DPORunConfig) -> Path:
    """Train (resuming from the newest checkpoint); return the final model (or adapter) directory."""
    trainer, tok = build_trainer(cfg)
    final = train_and_save(trainer, tok, cfg, "DPO")
    validate_run(cfg, trainer.model, tok, cfg.train.output_dir, "after", "rl")
    return final
