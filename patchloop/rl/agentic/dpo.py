"""``patchloop train agent-dpo``: DPO on pairs of the agent's own trajectories of one task.

The rollouts are run first (``rollouts``); for each task a resolved trajectory is ``chosen``
over an unresolved one (scored, not masked: a rollout cut by its context or a crash is not known
to be wrong), each distinct trajectory used once, at most ``max_pairs_per_task`` pairs a task. A
pair is stored in token ids: ``prompt_ids`` is what both sides share up to the first sampled
token, ``chosen_ids``/``rejected_ids`` the rest of each with its model mask, so DPO compares
log-probabilities of the model's own tokens only (``dpo_trainer``). A trajectory whose context
was cut (several segments) is left out: DPO needs one sequence per side.

Output: the rollouts, ``pairs.jsonl`` (which rollouts were paired), ``yield.json``, then the
DPO checkpoints and ``final``. With LoRA the reference is the start model with the adapter off.
"""

from __future__ import annotations

from pathlib import Path

from patchloop.llm.catalog.checkpoints import last_checkpoint
from patchloop.llm.quiet import quiet_libraries
from patchloop.rl.agentic.config import AgentDPOConfig
from patchloop.rl.agentic.data import by_task, collect_rollouts, load_segments, resumed_rows, sampled_key
from patchloop.rl.callbacks import run_callbacks
from patchloop.rl.common import load_model, peft_config, set_cpu_threads, train_and_save
from patchloop.rl.config import dump_config
from patchloop.types import read_jsonl, write_json, write_jsonl


def pair_row(chosen, rejected) -> dict:
    """One pre-tokenized preference row from two single segments of the same task."""
    limit = min(chosen.prompt_len, rejected.prompt_len)
    shared = 0
    while shared < limit and chosen.input_ids[shared] == rejected.input_ids[shared]:
        shared += 1
    return {"prompt_ids": list(chosen.input_ids[:shared]),
            "chosen_ids": list(chosen.input_ids[shared:]), "chosen_mask": list(chosen.model_mask[shared:]),
            "rejected_ids": list(rejected.input_ids[shared:]), "rejected_mask": list(rejected.model_mask[shared:])}


def _distinct(out: Path, rows: list[dict], cut: list[int]) -> list[tuple[dict, object]]:
    """(row, its single segment) for each distinct trajectory; cut ones counted in ``cut``."""
    seen: set[tuple] = set()
    found = []
    for row in rows:
        segments = load_segments(out, row)
        if not segments:
            continue
        if len(segments) > 1:
            cut[0] += 1
            continue
        if sampled_key(segments) not in seen:
            seen.add(sampled_key(segments))
            found.append((row, segments[0]))
    return found


def build_pairs(out: Path, rows: list[dict], max_per_task: int) -> tuple[list[dict], list[dict], dict]:
    """(paired rollouts, pre-tokenized pair rows, the yield)."""
    pairs, data, cut = [], [], [0]
    for task_id, group in by_task(rows).items():
        chosen = _distinct(out, [r for r in group if r["resolved"]], cut)
        rejected = _distinct(out, [r for r in group if not r["resolved"]], cut)
        for (c, cs), (r, rs) in list(zip(chosen, rejected))[:max_per_task]:
            pairs.append({"task_id": task_id, "chosen": c["sample"], "rejected": r["sample"]})
            data.append(pair_row(cs, rs))
    stats = {"rollouts": len(rows), "resolved": sum(bool(r.get("resolved")) for r in rows),
             "masked": sum(bool(r.get("masked")) for r in rows), "context_cut": cut[0], "pairs": len(pairs),
             "tasks_paired": len({p["task_id"] for p in pairs}), "tasks": len({r["task_id"] for r in rows})}
    return pairs, data, stats


def build_trainer(cfg: AgentDPOConfig, *, progress: bool = True):
    """Roll out, pair, and build the DPO trainer; returns (trainer, tokenizer, yield)."""
    from datasets import Dataset
    from transformers import PrinterCallback

    from patchloop.rl.agentic.dpo_trainer import TrajectoryDPOTrainer, TrajectoryPreferenceCollator
    from patchloop.rl.dpo import dpo_args  # the single-turn trainer's arguments: the same fields

    out = Path(cfg.train.output_dir)
    dump_config(cfg, out / "config.yaml")
    set_cpu_threads(cfg.train.cpu_threads)
    args = dpo_args(cfg)
    rollouts_dir, rows = collect_rollouts(cfg, progress=progress)
    path = out / "pairs.jsonl"
    used = ({(p["task_id"], p[side]) for p in read_jsonl(path) for side in ("chosen", "rejected")}
            if path.exists() and cfg.train.resume and last_checkpoint(out) else None)
    pairs, data, stats = build_pairs(rollouts_dir, resumed_rows(rows, used), cfg.max_pairs_per_task)
    write_jsonl(path, pairs)
    write_json(out / "yield.json", stats)
    print("[agent-dpo] {pairs} pairs from {tasks_paired} of {tasks} tasks ({resolved} of {rollouts} "
          "rollouts resolved, {masked} masked, {context_cut} cut by the context)".format(**stats), flush=True)
    if not data:
        raise ValueError("agent-dpo: no task had both a resolved and an unresolved rollout; roll out more "
                         "(rollouts.samples_per_task), hotter, or on tasks nearer the model's level")
    model, tok = load_model(cfg.model, keep_merged_in=out / "start" if cfg.lora.enabled else None)
    tok.pad_token = tok.pad_token or tok.eos_token
    collator = TrajectoryPreferenceCollator(pad_token_id=tok.pad_token_id, max_length=args.max_length,
                                            truncation_mode=args.truncation_mode)
    trainer = TrajectoryDPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(data),
                                   processing_class=tok, data_collator=collator, peft_config=peft_config(cfg.lora),
                                   callbacks=run_callbacks(out, "agent-dpo", cfg.train.max_wall_s))
    trainer.remove_callback(PrinterCallback)
    return trainer, tok, stats


def run_agent_dpo(cfg: AgentDPOConfig) -> Path:
    """Roll out, pair, train (each resuming); return the final model (or adapter) directory."""
    quiet_libraries()
    trainer, tok, _ = build_trainer(cfg)
    return train_and_save(trainer, tok, cfg, "agent DPO")
