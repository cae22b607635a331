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

from pydantic import BaseModel, Field

from patchloop.datagen.filters.dedup import DedupConfig, NearIndex
from patchloop.datagen.instruct.common import (
    ask,
    parse_reply,
    read_rows,
    render,
    run_items,
    task_row,
    template_ids,
    verify,
)
from patchloop.datagen.instruct.stage import Outcome, Stage
from patchloop.datagen.instruct.teacher import Teacher, sample_seed
from patchloop.datagen.overlap import description

STAGE = "self-instruct"


class SelfInstructConfig(BaseModel):
    n: int = Field(100, description="Slots: teacher prompts, one new task asked for in each. Not in the "
                   "fingerprint: slot i is the same in any run, so a larger n extends the output.")
    examples: int = Field(3, description="Seed tasks shown in each prompt.")
    similarity: float = Field(0.7, description="MinHash Jaccard at or above which a new instruction is too similar.")
    seed: int = Field(0, description="Run seed: examples and teacher sampling seeds derive from it.")
    timeout_s: float = Field(5.0, description="Seconds per task when verifying in the sandbox.")


def instruction_of(row: dict) -> str:
    """What a task asks, in words: its recorded instruction, else its prompt's docstring."""
    return str(row.get("instruction") or description(str(row.get("prompt", "")))).strip()


def run_self_instruct(seeds: Path, out: Path, cfg: SelfInstructConfig, teacher: Teacher, grader: Callable, *,
                      progress: bool = True, warn: Callable[[str], None] | None = None) -> dict:
    pool = read_rows(seeds, warn)
    if not pool:
        raise ValueError(f"{seeds}: no seed tasks")
    stage = Stage(out, STAGE, {"config": cfg.model_dump(exclude={"n"}), "teacher": teacher.describe(),
                               "templates": template_ids("self_instruct")}, inputs=[seeds])
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
        text = ask(teacher, render("self_instruct", examples=examples), sample_seed(cfg.seed, key), outcome)
        task = parse_reply(text, f"self-instruct/{slot:05d}", outcome)
        if task is None:
            return outcome
        hit = novelty.match(instruction_of(task.extra))
        if hit is not None:
            outcome.drop(f"too_similar: {task.task_id} ~ {hit[0]} ({hit[2]:.2f})")
            return outcome
        for t in verify([task], grader, outcome):
            novelty.add(t.task_id, instruction_of(t.extra))
            outcome.rows.append(task_row(t, pipeline=STAGE, seeds_shown=[str(r.get("task_id")) for r in shown]))
            outcome.counts["kept"] += 1
        return outcome

    return run_items(stage, [(f"slot-{i:05d}", i) for i in range(cfg.n)], process, progress=progress, warn=warn)
