"""OSS-Instruct (Magicoder): a random window of 1-15 consecutive lines of real open-source code
inspires a self-contained problem with a solution and tests; kept when the solution passes.

Each of ``n`` slots draws, with its own seed, a seed file and a window in it (blank-only
windows are drawn again). The task keeps the seed's package, path, lines and licence.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from patchloop.datagen.instruct import common
from patchloop.datagen.instruct.stage import Outcome
from patchloop.datagen.instruct.teacher import Teacher, sample_seed

STAGE = "oss-instruct"


class OssInstructConfig(common.SlotConfig):
    """One snippet and one teacher prompt a slot; snippets and sampling seeds derive from ``seed``."""

    min_lines: int = Field(1, description="Shortest snippet, in lines.")
    max_lines: int = Field(15, description="Longest snippet, in lines.")


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
    rows = [r for r in common.read_rows(seeds, warn) if str(r.get("text", "")).strip()]
    if not rows:
        raise ValueError(f"{seeds}: no seed code")
    stage = common.open_stage(out, STAGE, cfg, teacher, "oss_instruct", seeds)

    def process(key: str, slot: int) -> Outcome:
        outcome = Outcome()
        row, first, text = snippet(rows, random.Random(sample_seed(cfg.seed, STAGE, slot)), cfg)
        prompt = common.render("oss_instruct", snippet=text)
        reply = common.ask(teacher, prompt, sample_seed(cfg.seed, key), outcome)
        task = common.parse_reply(reply, f"oss-instruct/{slot:05d}", outcome)
        for t in common.verify([task] if task else [], grader, outcome):
            outcome.rows.append(common.task_row(
                t, pipeline=STAGE, seed_package=row.get("package"), seed_version=row.get("version"),
                seed_path=row.get("path"), seed_lines=[first, first + text.count("\n")], seed_snippet=text,
                seed_licence=row.get("licence")))
            outcome.counts["kept"] += 1
        return outcome

    return common.run_slots(stage, cfg, process, progress=progress, warn=warn)
