"""A training run resumes only with the settings it was started with.

``train.resume`` (on by default) picks up the latest ``checkpoint-*`` in ``output_dir``. A
rerun with another learning rate, model or dataset would continue the old run's weights under
the new ``config.yaml``, one run's outputs labelled with another's settings. So when there is
a checkpoint to resume from, the config there must match, except the settings that only say
how long and how often (more steps, a wall-clock budget, log and save intervals).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

FREE = {"train.resume", "train.max_steps", "train.max_wall_s", "train.logging_steps", "train.save_steps"}


def flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"seed": 3}}`` -> ``{"train.seed": 3}``."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def resume_differences(new: dict, path: Path) -> list[str]:
    """What differs between ``new`` and the config at ``path``, when a checkpoint beside it
    would be resumed (else nothing: a fresh start may write its own config)."""
    resumes = bool((new.get("train") or {}).get("resume"))
    if not resumes or not path.exists() or not any(path.parent.glob("checkpoint-*")):
        return []
    try:
        old = flat(yaml.safe_load(path.read_text()) or {})
    except (OSError, yaml.YAMLError):
        return []
    mine = flat(new)
    keys = [k for k in mine if k not in FREE and k in old and old[k] != mine[k]]
    return [f"{k} {old[k]!r}, not {mine[k]!r}" for k in keys]


def refusal(new: dict, path: Path) -> str | None:
    """Why a run with config ``new`` may not resume the run whose config is at ``path``
    (naming the settings that differ), or None when it may."""
    diffs = resume_differences(new, path)
    if not diffs:
        return None
    shown = "; ".join(diffs[:4]) + (" ..." if len(diffs) > 4 else "")
    return (f"{path.parent} holds a run to resume made with {shown}: use another "
            "train.output_dir, train.resume=false to start over, or the same settings")
