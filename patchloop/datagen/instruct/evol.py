"""Evol-Instruct for code (WizardCoder's operations): one operation a round, several rounds.

Every input task is evolved ``rounds`` times; each round applies one operation drawn with the
task's own seed, and the evolved task must verify in the sandbox. An evolution that does not
verify is dropped and ends that task's chain (there is nothing sound left to evolve). Every
round that verifies is kept as a task of its own, with the operations that made it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from patchloop.datagen.instruct import common
from patchloop.datagen.instruct.self_instruct import instruction_of
from patchloop.datagen.instruct.stage import Outcome
from patchloop.datagen.instruct.teacher import Teacher, sample_seed
from patchloop.types import FunctionTask

STAGE = "evol-instruct"

OPERATIONS = {
    "constraint": "Add one new constraint or requirement to it.",
    "rarer": "Replace a common requirement in it with a less common, more specific one.",
    "reasoning": "If it can be solved in a few simple steps, make it need more reasoning steps.",
    "misdirection": "Put a piece of plausible but erroneous code into the problem statement as a reference, "
                    "to mislead; the solution must be correct.",
    "complexity": "Demand a stated time or space complexity bound that a naive solution would miss.",
}


class EvolConfig(common.StageConfig):
    rounds: int = Field(3, description="Evolution rounds per input task (one operation each).")
    operations: list[str] = Field(default_factory=lambda: list(OPERATIONS), description="Operations to draw from.")


def run_evol(inputs: Path, out: Path, cfg: EvolConfig, teacher: Teacher, grader: Callable, *,
             progress: bool = True, warn: Callable[[str], None] | None = None) -> dict:
    unknown = [op for op in cfg.operations if op not in OPERATIONS]
    if unknown or not cfg.operations:
        raise ValueError(f"unknown operations {unknown} (known: {', '.join(OPERATIONS)})")
    rows = common.read_rows(inputs, warn)
    stage = common.open_stage(out, STAGE, cfg, teacher, "evol", inputs)

    def process(key: str, row: dict) -> Outcome:
        outcome = Outcome()
        current = FunctionTask.from_dict(row)
        rng = random.Random(sample_seed(cfg.seed, STAGE, key))
        ops: list[str] = list(row.get("evol_ops") or [])
        for r in range(cfg.rounds):
            op = rng.choice(cfg.operations)
            solution = (current.prompt + current.canonical_solution).strip("\n")
            problem = instruction_of(current.to_dict())
            prompt = common.render("evol", operation=OPERATIONS[op], problem=problem, solution=solution)
            text = common.ask(teacher, prompt, sample_seed(cfg.seed, key, r), outcome)
            task = common.parse_reply(text, f"{current.task_id}/evol{r + 1}", outcome)
            passed = common.verify([task], grader, outcome) if task is not None else []
            if not passed:
                outcome.drop(f"chain_ended: {key} at round {r + 1} ({op})")
                break
            ops.append(op)
            current = passed[0]
            outcome.rows.append(common.task_row(current, pipeline=STAGE, evolved_from=key, evol_ops=list(ops),
                                                **_provenance(row)))
            outcome.counts["kept"] += 1
        return outcome

    items = [(str(r.get("task_id") or f"#{i}"), r) for i, r in enumerate(rows)]
    return common.run_items(stage, items, process, progress=progress, warn=warn,
                            workers=cfg.workers)


def _provenance(row: dict) -> dict:
    """Where the task being evolved came from (seed licence and package travel along)."""
    return {k: row[k] for k in ("seed_licence", "seed_package", "seed_path") if k in row}
