"""OSS-Instruct (Magicoder): a random window of 1-15 consecutive lines of real open-source code
inspires a self-contained problem with a solution and tests; kept when the solution passes.

Each of ``n`` slots draws, with its own seed, a seed file and a window in it (blank-only
windows are drawn again). The task keeps the seed's package, path, lines and licence.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

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

STAGE = "oss-instruct"


class OssInstructConfig(BaseModel):
    n: int = Field(100, description="Slots: one snippet and one teacher prompt each. Not in the fingerprint: "
                   "slot i is the same in any run, so a rerun with a larger n extends the output.")
    min_lines: int = Field(1, description="Shortest snippet, in lines.")
    max_lines: int = Field(15, description="Longest snippet, in lines.")
    seed: int = Field(0, description="Run seed: snippets and teacher sampling seeds derive from it.")
    timeout_s: float = Field(5.0, description="Seconds per task when verifying in the sandbox.")


def snippet(rows: list[dict], rng: random.Random, cfg: OssInstructConfig) -> tuple[dict, int, str]:
    """(seed row, first line, text) of a window of consecutive lines that is not all blank."""
    for _ in range(50):
        row = rng.choice(rows)
        lines = str(row.get("text", "")).splitlines()
        if not lines:
            continue
        size = rng.randint(cfg.min_lines, cfg.max_lines)
        start = rng.randrange(max(1, len(lines) - size + 1))
        text = "\n".join(lines[start:start + size])
        if text.strip():
            return row, start + 1, text
    raise ValueError("the seed files hold no code")


def run_oss_instruct(seeds: Path, out: Path, cfg: OssInstructConfig, teacher: Teacher, grader: Callable, *,
                     progress: bool = True, warn: Callable[[str], None] | None = None) -> dict:
    rows = [r for r in read_rows(seeds, warn) if str(r.get("text", "")).strip()]
    if not rows:
        raise ValueError(f"{seeds}: no seed code")
    stage = Stage(out, STAGE, {"config": cfg.model_dump(exclude={"n"}), "teacher": teacher.describe(),
                               "templates": template_ids("oss_instruct")}, inputs=[seeds])

    def process(key: str, slot: int) -> Outcome:
        outcome = Outcome()
        row, first, text = snippet(rows, random.Random(sample_seed(cfg.seed, STAGE, slot)), cfg)
        reply = ask(teacher, render("oss_instruct", snippet=text), sample_seed(cfg.seed, key), outcome)
        task = parse_reply(reply, f"oss-instruct/{slot:05d}", outcome)
        for t in verify([task] if task else [], grader, outcome):
            outcome.rows.append(task_row(
                t, pipeline=STAGE, seed_package=row.get("package"), seed_version=row.get("version"),
                seed_path=row.get("path"), seed_lines=[first, first + text.count("\n")], seed_snippet=text,
                seed_licence=row.get("licence")))
            outcome.counts["kept"] += 1
        return outcome

    return run_items(stage, [(f"slot-{i:05d}", i) for i in range(cfg.n)], process, progress=progress, warn=warn)
