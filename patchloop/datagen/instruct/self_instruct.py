"""Self-Instruct: seed tasks in the prompt, a new task out, kept when it is novel and verifies.

Each of ``n`` slots shows the teacher ``examples`` seed tasks (drawn with the slot's own seed)
and asks for a different one. A new task is dropped as ``too_similar`` when its instruction is
a near-duplicate (MinHash Jaccard >= ``similarity``) of a seed or of a task already kept, the
Self-Instruct paper's novelty filter with MinHash in place of ROUGE-L; then its solution must
pass its own tests in the sandbox.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from patchloop.datagen.filters.dedup import DedupConfig, NearIndex
from patchloop.datagen.instruct import common
from patchloop.datagen.instruct.stage import Outcome
from patchloop.datagen.instruct.teacher import Teacher, sample_seed
from patchloop.datagen.overlap import description

STAGE = "self-instruct"


class SelfInstructConfig(common.SlotConfig):
    """One teacher prompt a slot, asking for one new task; the examples shown and the sampling
    seeds derive from ``seed``."""

    examples: int = Field(3, description="Seed tasks shown in each prompt.")
    similarity: float = Field(0.7, description="MinHash Jaccard at or above which a new instruction is too similar.")
    workers: int = Field(1, ge=1, le=1, description="One: novelty is judged against the tasks kept before an "
                                                    "item, so items run in slot order.")


def instruction_of(row: dict) -> str:
    """What a task asks, in words: its recorded instruction, else its prompt's docstring."""
    return str(row.get("instruction") or description(str(row.get("prompt", "")))).strip()


def run_self_instruct(seeds: Path, out: Path, cfg: SelfInstructConfig, teacher: Teacher, grader: Callable, *,
                      progress: bool = True, warn: Callable[[str], None] | None = None) -> dict:
    pool = common.read_rows(seeds, warn)
    if not pool:
        raise ValueError(f"{seeds}: no seed tasks")
    stage = common.open_stage(out, STAGE, cfg, teacher, "self_instruct", seeds)
    novelty = NearIndex(DedupConfig(threshold=cfg.similarity))
    for i, row in enumerate(pool):
        novelty.add(f"seed{i}", instruction_of(row))
    for row in stage.kept_rows():
        novelty.add(row["task_id"], instruction_of(row))

    def process(key: str, slot: int) -> Outcome:
        outcome = Outcome()
        rng = random.Random(sample_seed(cfg.seed, STAGE, slot))
        shown = rng.sample(pool, min(cfg.examples, len(pool)))
        examples = "\n\n".join(f"Task {j + 1}: {instruction_of(r)}" for j, r in enumerate(shown))
        prompt = common.render("self_instruct", examples=examples)
        text = common.ask(teacher, prompt, sample_seed(cfg.seed, key), outcome)
        task = common.parse_reply(text, f"self-instruct/{slot:05d}", outcome)
        if task is None:
            return outcome
        hit = novelty.match(instruction_of(task.extra))
        if hit is not None:
            outcome.drop(f"too_similar: {task.task_id} ~ {hit[0]} ({hit[2]:.2f})")
            return outcome
        for t in common.verify([task], grader, outcome):
            novelty.add(t.task_id, instruction_of(t.extra))
            outcome.rows.append(common.task_row(t, pipeline=STAGE,
                                                seeds_shown=[str(r.get("task_id")) for r in shown]))
            outcome.counts["kept"] += 1
        return outcome

    return common.run_slots(stage, cfg, process, progress=progress, warn=warn)
