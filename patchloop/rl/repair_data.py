"""Training rows of a repair dataset (``patchloop datagen repair``) for the GRPO trainer.

A repair row is already a chat (system + user: the issue and the code it names), so the
trainer's prompt is the row's ``prompt``; the columns the repair reward reads travel with it
(``instance``: the whole instance as JSON, ``targets``: the definitions the prompt showed).
Only the training splits load here: a ``heldout`` split is what a transfer benchmark measures,
and training on it is refused, as HumanEval is for function tasks.
"""

from __future__ import annotations

import random
from pathlib import Path

from patchloop.types import iter_jsonl

TRAINING_SPLITS = ("train", "validation")


class RepairDataError(ValueError):
    """A repair dataset that cannot be trained on; one line naming the file and the cause."""


def repair_training_rows(path: str | Path, split: str | None, *, seed: int, max_samples: int | None = None,
                         on_error=None) -> list[dict]:
    """The rows of ``<path>/<split>.jsonl`` (default ``train``), shuffled by ``seed``, as the
    trainer's dataset rows. Rows without a prompt or instance are named through ``on_error``."""
    split = split or "train"
    if split not in TRAINING_SPLITS:
        raise RepairDataError(f"{path}: split {split!r} is not a training split ({', '.join(TRAINING_SPLITS)}); "
                              "heldout rows are only measured")
    file = Path(path) / f"{split}.jsonl"
    if not file.exists():
        raise RepairDataError(f"{file}: no such file (make repair rows with `patchloop datagen repair`)")
    rows = []
    for row in iter_jsonl(file, skip_bad=True, on_error=on_error):
        if not (isinstance(row.get("prompt"), list) and row.get("instance") and row.get("instance_id")):
            if on_error:
                on_error(f"{file}: row {row.get('instance_id', '?')} is not a repair row")
            continue
        rows.append({"prompt": row["prompt"], "task_id": str(row["instance_id"]), "instance": row["instance"],
                     "targets": list(row.get("targets") or []), "package": str(row.get("package", ""))})
    if not rows:
        raise RepairDataError(f"{file}: no repair rows")
    random.Random(seed).shuffle(rows)
    return rows[:max_samples] if max_samples else rows
