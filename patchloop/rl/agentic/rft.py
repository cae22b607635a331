"""``patchloop train agent-rft``: rejection-sampling fine-tuning of the agent (SWE-Gym).

Roll the agent out ``rollouts.samples_per_task`` times per training task (``rollouts``), keep
the resolved trajectories (at most ``max_kept_per_task`` distinct ones per task) and fine-tune
on them with TRL's ``SFTTrainer`` as ``train sft`` builds it (``patchloop.rl.sft.build_trainer``)
on pre-tokenized rows: ``input_ids`` are the ids the model saw and sampled, and
``completion_mask`` is 1 exactly on the model's own tokens (TRL turns it into labels, -100
elsewhere, with ``completion_only_loss``), so prompts and tool outputs are never learnt and no
text is re-tokenized.

Output: the rollouts (``<output_dir>/rollouts`` unless ``rollouts.output_dir``), ``kept.jsonl``
(which rollouts were trained on; a resumed training run reuses it), ``yield.json``, then the SFT
checkpoints and ``final`` as for ``train sft``.
"""

from __future__ import annotations

from pathlib import Path

from patchloop.llm.catalog.checkpoints import last_checkpoint
from patchloop.llm.quiet import quiet_libraries
from patchloop.rl.agentic.config import AgentRFTConfig
from patchloop.rl.agentic.data import by_task, collect_rollouts, load_segments, resumed_rows, sampled_key
from patchloop.rl.common import load_model, set_cpu_threads, train_and_save
from patchloop.rl.config import SFTRunConfig, dump_config
from patchloop.types import read_jsonl, write_json, write_jsonl


def kept_rows(out: Path, rows: list[dict], max_per_task: int) -> tuple[list[dict], list[dict], dict]:
    """(kept rollout rows, their training rows, the yield): resolved trajectories, each distinct
    sampled sequence once, at most ``max_per_task`` per task; one training row per segment."""
    kept, data = [], []
    for group in by_task(rows).values():
        seen: set[tuple] = set()
        for row in group:
            if not row["resolved"] or len(seen) >= max_per_task:
                continue
            segments = load_segments(out, row)
            if not segments or sampled_key(segments) in seen:
                continue
            seen.add(sampled_key(segments))
            kept.append({"task_id": row["task_id"], "sample": row["sample"]})
            data.extend({"input_ids": list(s.input_ids), "completion_mask": list(s.model_mask),
                         "task_id": row["task_id"], "sample": row["sample"]} for s in segments)
    stats = {"rollouts": len(rows), "resolved": sum(bool(r.get("resolved")) for r in rows),
             "masked": sum(bool(r.get("masked")) for r in rows), "kept": len(kept), "rows": len(data),
             "tasks_kept": len({k["task_id"] for k in kept}), "tasks": len({r["task_id"] for r in rows})}
    return kept, data, stats


def _frozen(out: Path, rollouts_dir: Path, rows: list[dict], cfg: AgentRFTConfig):
    """The kept set, recomputed on a fresh run and limited to ``kept.jsonl`` on a resumed one."""
    path = out / "kept.jsonl"
    used = ({(k["task_id"], k["sample"]) for k in read_jsonl(path)}
            if path.exists() and cfg.train.resume and last_checkpoint(out) else None)
    kept, data, stats = kept_rows(rollouts_dir, resumed_rows(rows, used), cfg.max_kept_per_task)
    write_jsonl(path, kept)
    write_json(out / "yield.json", stats)
    return data, stats


def as_sft_config(cfg: AgentRFTConfig) -> SFTRunConfig:
    """The SFT run RFT is: same model, LoRA and training settings; loss on the model's tokens only."""
    return SFTRunConfig(model=cfg.model, lora=cfg.lora, train=cfg.train, max_length=cfg.max_length,
                        completion_only_loss=True)


def build_trainer(cfg: AgentRFTConfig, *, progress: bool = True):
    """Roll out, keep, and build the SFT trainer; returns (trainer, tokenizer, yield)."""
    from datasets import Dataset

    from patchloop.rl import sft

    out = Path(cfg.train.output_dir)
    dump_config(cfg, out / "config.yaml")
    set_cpu_threads(cfg.train.cpu_threads)
    rollouts_dir, rows = collect_rollouts(cfg, progress=progress)
    data, stats = _frozen(out, rollouts_dir, rows, cfg)
    print("[agent-rft] {resolved} of {rollouts} rollouts resolved ({masked} masked); kept {kept} "
          "from {tasks_kept} of {tasks} tasks".format(**stats), flush=True)
    if not data:
        raise ValueError(f"agent-rft: no resolved rollout to learn from ({stats['rollouts']} rollouts of "
                         f"{stats['tasks']} tasks); roll out more (rollouts.samples_per_task), longer "
                         "episodes, easier tasks, or a stronger start model")
    loaded = load_model(cfg.model, keep_merged_in=out / "start" if cfg.lora.enabled else None)
    dataset = Dataset.from_list([{k: r[k] for k in ("input_ids", "completion_mask")} for r in data])
    trainer, tok = sft.build_trainer(as_sft_config(cfg), dataset=dataset, loaded=loaded, name="agent-rft")
    return trainer, tok, stats


def run_agent_rft(cfg: AgentRFTConfig) -> Path:
    """Roll out, keep, fine-tune (each resuming); return the final model (or adapter) directory."""
    quiet_libraries()
    trainer, tok, _ = build_trainer(cfg)
    return train_and_save(trainer, tok, cfg, "agent RFT")

