"""Validation pass@1 during training: on tasks held back from the training split, never the test.

``data.validation_size`` tasks of the training split (fixed by a hash of their ids, see
``patchloop.rl.data.validation_rows``) are left out of training and measured here, greedy, with
the reward's own verdict. HumanEval is refused as training or validation data
(``refuse_test_set``): it is only ever the test, measured by ``patchloop eval func``. Every
figure is written with the split it came from, so a number in a report cannot be mistaken for
a test score.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from patchloop.rl.data import (
    grpo_rows,
    load_split,
    model_prompt,
    refuse_test_set,
    require_cleaned,
    validation_rows,
)
from patchloop.types import write_json

log = logging.getLogger(__name__)


def held_back(data, default_split: str) -> tuple[list[dict], dict[str, Any]]:
    """The validation rows of a run's ``DataSettings`` and where they came from."""
    split = data.split or default_split
    if not data.validation_size:
        return [], {}
    require_cleaned(data.path)
    ds = load_split(data.path, split)
    refuse_test_set(ds, f"{data.path}:{split}")
    rows = validation_rows(ds, data.validation_size)
    where = {"split": f"validation (held back from {split})", "data": str(data.path), "from_split": split,
             "n": len(rows), "test": False}
    return rows, where


def measure(model, tok, rows: list[dict], prompt_format: str, *, max_new_tokens: int, timeout_s: float,
            backend: str, batch: int = 8) -> dict[str, Any]:
    """Greedy pass@1 of ``model`` on ``rows``, graded by the execution reward (all tests pass)."""
    from patchloop.rl.rewards import ExecutionReward
    from patchloop.rl.sample_config import SamplingSettings
    from patchloop.rl.sampling import generate_groups, grade_groups, to_device

    to_device(model)

    s = SamplingSettings(max_new_tokens=max_new_tokens)
    reward = ExecutionReward(prompt_format=prompt_format, partial=False, timeout_s=timeout_s, backend=backend)
    passed: dict[str, bool] = {}
    try:
        for b in range(0, len(rows), batch):
            part = grpo_rows(rows[b:b + batch], prompt_format)
            groups = generate_groups(model, tok, [model_prompt(r["task_prompt"], prompt_format) for r in part], s,
                                     prompt_format, seed=0, greedy=True)
            for r, rs in zip(part, grade_groups(reward, part, groups, prompt_format)):
                passed[r["task_id"]] = rs[0] is not None and rs[0] >= 1.0
    finally:
        reward.close()
    return {"pass@1": sum(passed.values()) / max(1, len(passed)), "passed": passed}


def validate_run(cfg, model, tok, out_dir: str | Path, when: str, default_split: str) -> dict[str, Any] | None:
    """Measure the validation rows (if the config holds any back) and write
    ``<out_dir>/validation-<when>.json``; returns the figures, with their split."""
    rows, where = held_back(cfg.data, default_split)
    if not rows:
        return None
    v = cfg.validation
    grader = getattr(cfg, "grader", None) or getattr(cfg, "reward", None)
    figures = {**where, "when": when, **measure(model, tok, rows, cfg.data.prompt_format,
                                                max_new_tokens=v.max_tokens, timeout_s=grader.timeout_s,
                                                backend=grader.backend)}
    write_json(Path(out_dir) / f"validation-{when}.json", figures)
    print(f"validation pass@1 {when}: {figures['pass@1']:.3f} on {figures['n']} tasks of {where['split']}",
          flush=True)
    return figures
