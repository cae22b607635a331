"""``patchloop train rft``: rejection-sampling fine-tuning (STaR, SWE-Gym's RFT).

Sample ``sampling.num_samples`` completions per training prompt from the start model, grade
them with the execution reward GRPO uses (``patchloop.rl.sampling``), keep the passing ones
(identical completions once, at most ``max_kept_per_prompt`` per prompt) and fine-tune on them
with TRL's ``SFTTrainer`` exactly as ``train sft`` does (``patchloop.rl.sft.build_trainer``).
It is a method of its own and the control GRPO has to beat at equal time.

Output directory: ``samples.jsonl`` (every sample and verdict, per prompt, resumable),
``kept.jsonl`` (the SFT data), ``yield.json`` (prompts, samples, passed, kept), then the SFT
checkpoints and ``final`` as for ``train sft``; ``validation-*.json`` when tasks are held back.
"""

from __future__ import annotations

from pathlib import Path

from patchloop.rl.common import load_model, set_cpu_threads, train_and_save
from patchloop.rl.config import SFTRunConfig, dump_config
from patchloop.rl.data import DataError, model_prompt, training_rows
from patchloop.rl.sample_config import RFTRunConfig
from patchloop.rl.sampling import as_completion, sample_and_grade
from patchloop.rl.validation import validate_run
from patchloop.types import write_json, write_jsonl


def kept_set(records: list[dict], max_per_prompt: int) -> tuple[list[dict], dict[str, int]]:
    """The passing samples to fine-tune on, and the yield. A completion repeated within a prompt
    counts once (whitespace at its ends aside): duplicates would only weigh easy prompts up."""
    kept, passed, samples, solved = [], 0, 0, 0
    for rec in records:
        seen: set[str] = set()
        mine = 0
        for s in rec["samples"]:
            samples += 1
            if not s["passed"]:
                continue
            passed += 1
            key = s["completion"].strip()
            if key in seen or mine >= max_per_prompt:
                continue
            seen.add(key)
            mine += 1
            kept.append({"task_id": rec["task_id"], "completion": s["completion"]})
        solved += mine > 0
    return kept, {"prompts": len(records), "samples": samples, "passed": passed, "kept": len(kept),
                  "prompts_with_a_pass": solved}


def sft_dataset(kept: list[dict], rows: list[dict], prompt_format: str):
    """Prompt/completion rows in TRL's format from the kept samples."""
    from datasets import Dataset

    prompts = {str(r.get("task_id", "")): r["prompt"] for r in rows}
    return Dataset.from_list([{"prompt": model_prompt(prompts[k["task_id"]], prompt_format),
                               "completion": as_completion(k["completion"], prompt_format)} for k in kept])


def as_sft_config(cfg: RFTRunConfig) -> SFTRunConfig:
    return SFTRunConfig(model=cfg.model, data=cfg.data, lora=cfg.lora, train=cfg.train,
                        max_length=cfg.max_length, completion_only_loss=cfg.completion_only_loss)


def prepare(cfg: RFTRunConfig, *, progress: bool = True):
    """Sample, grade and select; returns (kept rows, yield, training rows, (model, tokenizer))."""
    out = Path(cfg.train.output_dir)
    dump_config(cfg, out / "config.yaml")
    set_cpu_threads(cfg.train.cpu_threads)
    rows = training_rows(cfg.data, "rl", cfg.train.seed)
    if not rows:
        raise DataError(f"{cfg.data.path}: no training tasks left after filtering")
    loaded = load_model(cfg.model, keep_merged_in=out / "start" if cfg.lora.enabled else None)
    records = sample_and_grade(cfg, *loaded, rows, out / "samples.jsonl", progress=progress)
    kept, stats = kept_set(records, cfg.max_kept_per_prompt)
    write_jsonl(out / "kept.jsonl", kept)
    write_json(out / "yield.json", stats)
    print("[rft] yield: {prompts} prompts, {samples} samples, {passed} passed, {kept} kept "
          "({prompts_with_a_pass} prompts with a pass)".format(**stats), flush=True)
    if not kept:
        raise ValueError(f"rft: no sample passed ({stats['samples']} samples of {stats['prompts']} prompts); "
                         "sample more (sampling.num_samples), hotter, or start from a stronger model")
    return kept, stats, rows, loaded


def build_trainer(cfg: RFTRunConfig, *, progress: bool = True):
    """The SFT trainer on the kept set, the tokenizer and the yield."""
    from patchloop.rl import sft

    kept, stats, rows, loaded = prepare(cfg, progress=progress)
    if cfg.validation.before and not (Path(cfg.train.output_dir) / "validation-before.json").exists():
        validate_run(cfg, *loaded, cfg.train.output_dir, "before", "rl")
    trainer, tok = sft.build_trainer(as_sft_config(cfg), dataset=sft_dataset(kept, rows, cfg.data.prompt_format),
                                     loaded=loaded, name="rft")
    return trainer, tok, stats


def run_rft(cfg: RFTRunConfig) -> Path:
    """Sample, keep, fine-tune (each resuming); return the final model (or adapter) directory."""
    trainer, tok, _ = build_trainer(cfg)
    final = train_and_save(trainer, tok, cfg, "RFT")
    validate_run(cfg, trainer.model, tok, cfg.train.output_dir, "after", "rl")
    return final
