"""``datagen functions``: procedural function-level tasks, verified, split, fingerprinted.

Pipeline: draw candidates family by family and level by level (each from its own seeded RNG,
so a seed gives the same tasks in the same order), drop exact duplicates, verify every
canonical solution in ONE sandbox with the same grader that evaluation and RL rewards use,
drop what is duplicated or n-gram-covered across splits, top up, and write.

Splits (levels are the number of composed steps):
- ``sft``: labelled tasks, levels 1-2, canonical solutions kept;
- ``rl``: test-only tasks, levels 1-3, solutions removed (the trainer only sees tests);
- ``heldout``: every level, for measuring.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from patchloop.datagen import overlap
from patchloop.datagen.families import FAMILIES, Spec
from patchloop.types import FunctionTask

GENERATOR_VERSION = "functions-2"
SPLITS = ("sft", "rl", "heldout")


class FunctionsConfig(BaseModel):
    """Everything that decides the output; hashed into ``fingerprint.json``."""

    n: int = Field(1000, description="Total number of tasks over all splits.")
    seed: int = Field(0, description="Master seed; every task's own seed derives from it.")
    families: list[str] = Field(default_factory=lambda: sorted(FAMILIES), description="Families to draw from.")
    fractions: dict[str, float] = Field(
        default_factory=lambda: {"sft": 0.5, "rl": 0.3, "heldout": 0.2}, description="Share of n per split.")
    levels: dict[str, list[int]] = Field(
        default_factory=lambda: {"sft": [1, 2], "rl": [1, 2, 3], "heldout": [1, 2, 3, 4]},
        description="Difficulty levels (composed steps) per split, drawn round-robin.")
    level_weights: dict[str, dict[int, float]] = Field(
        default_factory=dict,
        description="Relative weight of a level within a split (missing = 1), e.g. {'sft': {3: 0.05}}: "
                    "labelled hard tasks made scarce, as they are in practice. A weighted level takes no "
                    "spill from an exhausted level below it, so the split may come out short.")
    ngram: int = Field(8, description="Word n-gram size for the cross-split coverage check.")
    timeout_s: float = Field(5.0, description="Per-task time limit when verifying canonical solutions.")

    def quotas(self) -> dict[str, int]:
        total = sum(self.fractions.get(s, 0) for s in SPLITS) or 1.0
        q = {s: int(self.n * self.fractions.get(s, 0) / total) for s in SPLITS}
        q["sft"] += self.n - sum(q.values())  # rounding remainder
        return q

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]



def scarce_labels(n: int, labelled_hard: int, hard_level: int = 3) -> dict[str, Any]:
    """``FunctionsConfig`` fields for the "scarce labels" set-up: the SFT split holds a quota of
    about ``labelled_hard`` x 2 tasks at ``hard_level`` (so a trainer's ``level_caps`` can keep
    exactly ``labelled_hard`` after overlap drops), while the RL split's tests-only tasks at that
    level stay plentiful. That is the situation in practice: tests are cheap, references are not."""
    return {"levels": {"sft": list(range(1, hard_level + 1)), "rl": list(range(1, hard_level + 1)),
                       "heldout": list(range(1, hard_level + 2))},
            "level_weights": {"sft": {hard_level: 10 * labelled_hard / n}}}

def split_settings(sft: str, rl: str, heldout: str, fractions: str) -> dict[str, Any]:
    """``FunctionsConfig``'s ``levels``, ``level_weights`` and ``fractions`` from the command
    line's text: per split, comma-separated ``LEVEL`` or ``LEVEL:WEIGHT`` (a relative share,
    default 1); three comma-separated fractions. ``ValueError`` (one line) for anything else."""
    try:
        levels, weights = {}, {}
        for name, text in (("sft", sft), ("rl", rl), ("heldout", heldout)):
            items = [x.strip().partition(":") for x in text.split(",") if x.strip()]
            levels[name] = [int(lv) for lv, _, _ in items]
            if any(sep for _, sep, _ in items):
                weights[name] = {int(lv): float(w) if sep else 1.0 for lv, sep, w in items}
        shares = [float(x) for x in fractions.split(",")]
    except ValueError as e:
        raise ValueError(f"levels (LEVEL or LEVEL:WEIGHT) and fractions are comma-separated numbers ({e})") from None
    if len(shares) != 3 or any(not lv or min(lv) < 1 or max(lv) > 4 for lv in levels.values()):
        raise ValueError("need three fractions, and levels between 1 and 4 for every split")
    if any(w < 0 for ws in weights.values() for w in ws.values()):
        raise ValueError("level weights must be >= 0")
    return {"levels": levels, "level_weights": weights, "fractions": dict(zip(("sft", "rl", "heldout"), shares))}


def _task_seed(seed: int, split: str, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{split}/{index}".encode()).digest()[:6], "big")


def to_task(spec: Spec, seed: int) -> FunctionTask:
    """A HumanEval-shaped task: signature + docstring prompt, one-line body, ``check``, and the
    same cases in structured form for the grader (which keeps expected values host-side)."""
    cases = [{"args": [x], "expected": spec.reference(x)} for x in spec.inputs]
    key = json.dumps([spec.family, spec.level, spec.params], sort_keys=True)
    task_id = f"gen/{spec.family}/L{spec.level}/{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    test = "def check(candidate):\n" + "".join(
        f"    assert candidate({c['args'][0]!r}) == {c['expected']!r}\n" for c in cases)
    return FunctionTask(
        task_id=task_id,
        prompt=f'def {spec.entry_point}({spec.arg}):\n    """{spec.doc}"""\n',
        entry_point=spec.entry_point,
        test=test,
        canonical_solution=f"    {spec.body}\n",
        extra={"family": spec.family, "level": spec.level, "params": spec.params, "seed": seed,
               "generator": GENERATOR_VERSION, "cases": cases},
    )


def level_quotas(cfg: FunctionsConfig, split: str, total: int) -> dict[int, int]:
    """Shares per level by ``level_weights`` (even by default), the remainder to the lowest levels."""
    levels = sorted(cfg.levels[split])
    w = {lv: float(cfg.level_weights.get(split, {}).get(lv, 1.0)) for lv in levels}
    norm = sum(w.values()) or 1.0
    q = {lv: int(total * w[lv] / norm) for lv in levels}
    for lv in [lv for lv in levels if w[lv] > 0][: total - sum(q.values())]:
        q[lv] += 1
    return q


def draw(cfg: FunctionsConfig, split: str, level: int, index: int) -> FunctionTask:
    """The ``index``-th candidate of ``split`` at ``level``: families round-robin, own seed."""
    fams = [f for f in sorted(cfg.families) if FAMILIES[f][1] >= level]
    if not fams:
        raise ValueError(f"no family in {cfg.families} supports level {level}")
    family = fams[index % len(fams)]
    seed = _task_seed(cfg.seed, f"{split}/L{level}", index)
    return to_task(FAMILIES[family][0](random.Random(seed), level), seed)


def generate(
    cfg: FunctionsConfig,
    verify: Callable[[list[FunctionTask]], list[bool]],
    *,
    max_rounds: int = 8,
) -> tuple[dict[str, list[FunctionTask]], dict[str, Any]]:
    """Splits with solutions still attached (see ``finalise``) and generation statistics.

    ``verify`` grades canonical solutions (a batch in, one verdict per task out)."""
    for f in cfg.families:
        if f not in FAMILIES:
            raise ValueError(f"unknown family {f!r} (known: {', '.join(sorted(FAMILIES))})")
    quotas = cfg.quotas()
    splits: dict[str, list[FunctionTask]] = {s: [] for s in SPLITS}
    next_index: dict[tuple[str, int], int] = {}
    seen: set[str] = set()
    stats = {"drawn": 0, "duplicate": 0, "failed_verification": 0, "overlap_dropped": 0,
             "level_exhausted": [], "failed_ids": []}
    for _ in range(max_rounds):
        fresh = _draw_round(cfg, splits, quotas, next_index, seen, stats)
        if not fresh:
            break
        verdicts = verify([t for _, t in fresh])
        for (split, task), ok in zip(fresh, verdicts):
            if ok:
                splits[split].append(task)
            else:
                stats["failed_verification"] += 1
                stats["failed_ids"].append(task.task_id)
        bad = overlap.offenders(splits, cfg.ngram)
        if bad:
            stats["overlap_dropped"] += len(bad)
            splits = {s: [t for t in ts if t.task_id not in bad] for s, ts in splits.items()}
        if all(len(splits[s]) >= quotas[s] for s in SPLITS):
            break
    for s in SPLITS:
        splits[s] = _trim(splits[s], quotas[s])
        splits[s].sort(key=lambda t: t.task_id)
    return splits, stats


def _draw_round(cfg, splits, quotas, next_index, seen, stats) -> list[tuple[str, FunctionTask]]:
    """New candidates for what each split still lacks, level by level. Within a level the
    splits take turns, so a level with few distinct tasks (one step) is shared fairly; what
    a level cannot supply moves up to the split's next level (unless that level is weighted)."""
    want: dict[tuple[str, int], int] = {}
    for split in SPLITS:
        have = [t.extra["level"] for t in splits[split]]
        for level, target in level_quotas(cfg, split, quotas[split]).items():
            want[(split, level)] = max(0, target - have.count(level))
    fresh: list[tuple[str, FunctionTask]] = []
    for level in sorted({lv for s in SPLITS for lv in cfg.levels[s]}):
        users = [s for s in ("heldout", "rl", "sft") if want.get((s, level), 0) > 0]
        misses, budget = 0, 200 + 20 * sum(want.get((s, level), 0) for s in users)
        while users and misses < budget:
            for split in list(users):
                idx = next_index.get((split, level), 0)
                next_index[(split, level)] = idx + 1
                task = draw(cfg, split, level, idx)
                stats["drawn"] += 1
                keys = overlap.exact_keys(task)
                if keys & seen:
                    stats["duplicate"] += 1
                    misses += 1
                    continue
                seen |= keys
                fresh.append((split, task))
                want[(split, level)] -= 1
                if want[(split, level)] == 0:
                    users.remove(split)
        for split in users:  # this level ran dry for it
            tag = f"{split}/L{level}"
            if tag not in stats["level_exhausted"]:
                stats["level_exhausted"].append(tag)
            # A level given its own weight takes no spill: a scarce level must stay scarce,
            # even when the few one- and two-step tasks below it run out.
            higher = [lv for lv in sorted(cfg.levels[split]) if lv > level]
            if higher and higher[0] not in cfg.level_weights.get(split, {}):
                want[(split, higher[0])] = want.get((split, higher[0]), 0) + want[(split, level)]
    return fresh


def _trim(tasks: list[FunctionTask], quota: int) -> list[FunctionTask]:
    """Drop the newest tasks of the most crowded level until the split holds ``quota``."""
    tasks = list(tasks)
    while len(tasks) > quota:
        counts: dict[int, int] = {}
        for t in tasks:
            counts[t.extra["level"]] = counts.get(t.extra["level"], 0) + 1
        crowded = max(sorted(counts), key=lambda lv: counts[lv])
        last = max(i for i, t in enumerate(tasks) if t.extra["level"] == crowded)
        del tasks[last]
    return tasks


def finalise(splits: dict[str, list[FunctionTask]]) -> dict[str, list[FunctionTask]]:
    """The RL split keeps tests only: its trainer must never see a reference solution."""
    out = dict(splits)
    out["rl"] = [FunctionTask(t.task_id, t.prompt, t.entry_point, t.test, "", dict(t.extra)) for t in splits["rl"]]
    return out


def hf_rows(tasks: list[FunctionTask]) -> list[dict[str, Any]]:
    """Flat rows for a ``datasets`` table: nested, mixed-type fields travel as JSON strings."""
    return [{
        "task_id": t.task_id, "prompt": t.prompt, "entry_point": t.entry_point, "test": t.test,
        "canonical_solution": t.canonical_solution, "family": t.extra["family"],
        "level": int(t.extra["level"]), "seed": int(t.extra["seed"]),
        "params": json.dumps(t.extra["params"]), "cases": json.dumps(t.extra["cases"]),
    } for t in tasks]
