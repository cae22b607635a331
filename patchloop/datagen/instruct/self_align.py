"""SelfCodeAlign, as three stages: seed function -> concepts -> instruction -> responses.

- ``concepts``: the teacher names the programming concepts a seed function uses;
- ``instruct``: from those concepts, a new self-contained task (text only);
- ``respond``: ``samples`` responses to each instruction, each with its own tests; a response is
  kept only if its solution passes its own tests in the sandbox, and one response (the first
  that passes) is kept per instruction.

Seed licence, package and function travel with every row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from patchloop.datagen.instruct import common
from patchloop.datagen.instruct.parse import problem_text
from patchloop.datagen.instruct.stage import Outcome
from patchloop.datagen.instruct.teacher import Teacher, sample_seed

PROVENANCE = ("package", "version", "licence", "path", "name")


class SelfAlignConfig(common.StageConfig):
    samples: int = Field(3, description="Responses asked for per instruction (respond stage).")


def _seed_of(row: dict) -> dict:
    """The seed function's provenance, carried through every stage."""
    seed = row.get("seed_function") or {k: row.get(k) for k in PROVENANCE}
    return {k: seed.get(k) for k in PROVENANCE}


def _items(path: Path, warn: Callable[[str], None] | None) -> list[tuple[str, dict]]:
    return [(str(r.get("id") or f"#{i}"), r) for i, r in enumerate(common.read_rows(path, warn))]


def parse_concepts(text: str) -> list[str]:
    """A comma-separated concept line (bullets and numbering tolerated)."""
    line = " ".join(x.strip(" -*\t") for x in (text or "").strip().splitlines() if x.strip())
    line = re.sub(r"^(concepts?\s*:)", "", line, flags=re.I)
    parts = [re.sub(r"^\d+[.)]\s*", "", p).strip(" .`") for p in re.split(r",|;|\s\d+[.)]\s", line)]
    return [p for p in parts if 1 < len(p) <= 60][:8]


def run_concepts(seeds: Path, out: Path, cfg: SelfAlignConfig, teacher: Teacher, *, progress: bool = True,
                 warn: Callable[[str], None] | None = None) -> dict:
    stage = common.open_stage(out, "self-align-concepts", cfg, teacher, "sca_concepts", seeds)

    def process(key: str, row: dict) -> Outcome:
        outcome = Outcome()
        prompt = common.render("sca_concepts", code=str(row.get("code", "")))
        reply = common.ask(teacher, prompt, sample_seed(cfg.seed, "concepts", key), outcome)
        concepts = parse_concepts(reply)
        if not concepts:
            outcome.drop(f"no_concepts: {key}")
            return outcome
        outcome.counts["parsed"] += 1
        outcome.counts["kept"] += 1
        outcome.rows.append({"id": key, "concepts": concepts, "seed_function": _seed_of(row)})
        return outcome

    return common.run_items(stage, _items(seeds, warn), process, progress=progress, warn=warn,
                            workers=cfg.workers)


def run_instructions(concepts: Path, out: Path, cfg: SelfAlignConfig, teacher: Teacher, *,
                     progress: bool = True, warn: Callable[[str], None] | None = None) -> dict:
    stage = common.open_stage(out, "self-align-instruct", cfg, teacher, "sca_instruction", concepts)

    def process(key: str, row: dict) -> Outcome:
        outcome = Outcome()
        prompt = common.render("sca_instruction", concepts=", ".join(row.get("concepts") or []))
        text = common.ask(teacher, prompt, sample_seed(cfg.seed, "instruct", key), outcome)
        instruction = problem_text(text).strip()
        if len(instruction) < 20:  # an empty or one-word reply is no task
            outcome.drop(f"no_instruction: {key}")
            return outcome
        outcome.counts["parsed"] += 1
        outcome.counts["kept"] += 1
        outcome.rows.append({"id": key, "instruction": instruction, "concepts": row.get("concepts") or [],
                             "seed_function": _seed_of(row)})
        return outcome

    return common.run_items(stage, _items(concepts, warn), process, progress=progress, warn=warn,
                            workers=cfg.workers)


def run_responses(instructions: Path, out: Path, cfg: SelfAlignConfig, teacher: Teacher, grader: Callable, *,
                  progress: bool = True, warn: Callable[[str], None] | None = None) -> dict:
    stage = common.open_stage(out, "self-align-respond", cfg, teacher, "sca_response", instructions)

    def process(key: str, row: dict) -> Outcome:
        outcome = Outcome()
        prompt = common.render("sca_response", instruction=str(row.get("instruction", "")))
        tasks = []
        for s in range(cfg.samples):
            text = common.ask(teacher, prompt, sample_seed(cfg.seed, "respond", key, s), outcome)
            task = common.parse_reply(text, f"self-align/{key}/{s}", outcome)
            if task is not None:
                task.extra["instruction"] = str(row.get("instruction", ""))
                tasks.append(task)
        passed = common.verify(tasks, grader, outcome)
        if not passed:
            outcome.drop(f"no_response_passed: {key}")
            return outcome
        seed = _seed_of(row)
        outcome.rows.append(common.task_row(passed[0], pipeline="self-align", concepts=row.get("concepts") or [],
                                            seed_package=seed["package"], seed_version=seed["version"],
                                            seed_path=seed["path"], seed_function=seed["name"],
                                            seed_licence=seed["licence"]))
        outcome.counts["kept"] += 1
        return outcome

    return common.run_items(stage, _items(instructions, warn), process, progress=progress, warn=warn,
                            workers=cfg.workers)
