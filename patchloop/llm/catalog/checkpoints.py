"""Where a checkpoint's weights are: one answer for serve, the agent, evaluation and training.

A training run writes ``checkpoint-N`` directories while it goes and ``final`` (a full model,
or a LoRA adapter whose ``adapter_config.json`` names its base) plus ``DONE.json`` when it
ends. A LoRA run that started from another adapter also keeps that merged start in ``start/``,
which is the base its own adapter names. Anything that loads a model may be handed any of these, or the run directory itself.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` that finished saving (has trainer_state.json), or None."""
    from transformers.trainer_utils import get_last_checkpoint

    d = Path(output_dir)
    if not d.is_dir():
        return None
    ckpt = get_last_checkpoint(str(d))
    if ckpt and not (Path(ckpt) / "trainer_state.json").exists():
        log.warning("%s is incomplete (killed while saving?): starting over", ckpt)
        return None
    return ckpt


def resolve_checkpoint(path: str | Path) -> tuple[str, str | None]:
    """(base model dir, adapter dir or None) for a trained output: LoRA finals point at their base.

    Also takes a training run's output directory: its finished model (``DONE.json``), or else
    its newest complete ``checkpoint-N`` (a run that is still going, or was killed)."""
    p = Path(path)
    if p.is_dir() and not (p / "config.json").exists() and not (p / "adapter_config.json").exists():
        done = p / "DONE.json"
        if done.exists():
            model = Path(json.loads(done.read_text())["model"])
            return resolve_checkpoint(model if model.exists() else p / model.name)  # run moved or other cwd
        ckpt = last_checkpoint(p)
        if ckpt is None:
            raise FileNotFoundError(f"{p}: not a model directory (no config.json or adapter_config.json) "
                                    "and no finished checkpoint in it")
        return resolve_checkpoint(ckpt)
    cfg = p / "adapter_config.json"
    if cfg.exists():
        base = str(json.loads(cfg.read_text()).get("base_model_name_or_path"))
        moved = p.parent / "start"  # an adapter trained on a merged start, in a run dir that moved
        if not Path(base).exists() and (moved / "config.json").exists():
            base = str(moved)
        return base, str(p)
    return str(p), None
