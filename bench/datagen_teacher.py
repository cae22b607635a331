"""Teacher datagen end to end: OSS-Instruct + SelfCodeAlign, then cleaning; per-stage yield,
teacher tokens/s and wall time.

    patchloop serve --model qwen2.5-coder-1.5b-instruct --name teacher --port 8000 --max-batch 16 &
    .venv/bin/python bench/datagen_teacher.py --model openai:teacher \\
        --base-url http://127.0.0.1:8000/v1 --n-oss 600 --n-align 400 --out runs/bench/datagen-teacher

Stages run in order, each resumable (rerun the same command after a kill): seeds-pypi,
seed-functions, oss-instruct, self-align concepts / instruct / respond, clean. The summary
(``summary.json`` and a Markdown table on stdout) has, per stage, the yield (generated,
parsed, executed, passed, kept), the drops by reason, teacher tokens/s and wall time, and the
final count of verified, deduplicated, decontaminated tasks (goal: >= 500).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

from patchloop.datagen.filters.clean import run_clean
from patchloop.datagen.instruct import open_grader, open_teacher
from patchloop.datagen.instruct.oss_instruct import OssInstructConfig, run_oss_instruct
from patchloop.datagen.instruct.pypi import PypiSeedsConfig, run_pypi_seeds
from patchloop.datagen.instruct.seed_functions import SeedFunctionsConfig, run_seed_functions
from patchloop.datagen.instruct.self_align import (
    SelfAlignConfig,
    run_concepts,
    run_instructions,
    run_responses,
)
from patchloop.types import read_jsonl, write_json, write_jsonl

PACKAGES = "more-itertools,toolz,boltons,attrs,python-dateutil,sortedcontainers,inflection,humanize"


def _timed(name: str, fn, rows: list[dict]) -> dict:
    start = time.monotonic()
    stats = fn()
    stats["this_run_s"] = round(time.monotonic() - start, 1)
    stats.setdefault("wall_s", stats["this_run_s"])  # a teacher stage sums the wall time of all its runs
    tokens = (stats.get("teacher") or {}).get("tokens") or 0
    # with several requests in flight, tokens per second of wall time, not per request
    stats["teacher_throughput"] = round(tokens / stats["wall_s"], 1) if tokens and stats["wall_s"] else None
    rows.append({"stage": name, **stats})
    print(f"{name}: {stats.get('yield')} in {stats['wall_s']} s", file=sys.stderr)
    return stats


def _sample(path: Path, n: int, seed: int, out: Path) -> Path:
    """At most ``n`` rows of ``path``, drawn with ``seed`` (the input of the next stage)."""
    rows = read_jsonl(path)
    if len(rows) > n:
        rows = random.Random(seed).sample(rows, n)
    write_jsonl(out, rows)
    return out


def run(args) -> dict:
    out = Path(args.out)

    def teacher_of(max_tokens: int):
        # each step's reply limit is what it needs (a reply cut at its limit fails its parse anyway)
        return open_teacher(args.model, base_url=args.base_url, temperature=args.temperature, top_p=0.95,
                            max_tokens=max_tokens)
    teacher = teacher_of(args.max_tokens)
    grader = open_grader(args.backend, 5.0)
    stages: list[dict] = []
    total = time.monotonic()
    try:
        pypi = PypiSeedsConfig(packages=args.packages.split(","))
        _timed("seeds-pypi", lambda: run_pypi_seeds(out / "seeds", pypi, progress=False), stages)
        seeds = out / "seeds" / "tasks.jsonl"
        oss = OssInstructConfig(n=args.n_oss, workers=args.workers)
        _timed("oss-instruct", lambda: run_oss_instruct(seeds, out / "oss", oss, teacher, grader, progress=False),
               stages)
        _timed("seed-functions", lambda: run_seed_functions(seeds, out / "fns", SeedFunctionsConfig(),
                                                            progress=False), stages)
        fns = _sample(out / "fns" / "tasks.jsonl", args.n_align, 0, out / "fns-sample.jsonl")
        sca = SelfAlignConfig(samples=args.samples, workers=args.workers)
        _timed("self-align-concepts", lambda: run_concepts(fns, out / "sca-c", sca, teacher_of(args.concept_tokens),
                                                           progress=False), stages)
        _timed("self-align-instruct", lambda: run_instructions(out / "sca-c" / "tasks.jsonl", out / "sca-i", sca,
                                                               teacher_of(args.instruct_tokens), progress=False), stages)
        _timed("self-align-respond", lambda: run_responses(out / "sca-i" / "tasks.jsonl", out / "sca", sca, teacher,
                                                           grader, progress=False), stages)
        start = time.monotonic()
        card = run_clean([out / "oss" / "tasks.jsonl", out / "sca" / "tasks.jsonl"], out / "clean", grader=grader,
                         name="teacher-bench")
        clean_s = round(time.monotonic() - start, 1)
    finally:
        grader.close()
    tokens = sum(s["teacher"]["tokens"] for s in stages if s.get("teacher"))
    seconds = sum(s["teacher"]["seconds"] for s in stages if s.get("teacher"))
    teacher_wall = sum(s["wall_s"] for s in stages if s.get("teacher"))
    return {"model": args.model, "machine": platform.processor() or platform.machine(),
            "stages": stages, "clean": {"wall_s": clean_s, **card["cleaning"]}, "final_tasks": card["tasks"],
            "teacher_tokens": tokens, "teacher_tokens_per_request_s": round(tokens / seconds, 1) if seconds else None,
            "teacher_tokens_per_wall_s": round(tokens / teacher_wall, 1) if teacher_wall else None,
            # the stages' wall times are summed over every run that made them (a resumed bench too)
            "wall_s": round(sum(s["wall_s"] for s in stages) + clean_s, 1),
            "this_run_s": round(time.monotonic() - total, 1)}


def _prompt_tokens(teacher: dict) -> str:
    """Prompt tokens and the share the server answered from its prefix cache."""
    total, cached = teacher.get("prompt_tokens") or 0, teacher.get("cached_prompt_tokens") or 0
    return f"{total} ({cached / total:.0%})" if total else ""


def markdown(summary: dict) -> str:
    lines = ["| stage | generated | parsed | executed | passed | kept | tok/s per request | tok/s of wall time "
             "| prompt tokens (cached) | wall s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary["stages"]:
        y, t = s["yield"], s.get("teacher") or {}
        lines.append(f"| {s['stage']} | {y['generated']} | {y['parsed']} | {y['executed']} | {y['passed']} | "
                     f"{y['kept']} | {t.get('tokens_per_s') or ''} | {s.get('teacher_throughput') or ''} | "
                     f"{_prompt_tokens(t)} | {s['wall_s']} |")
    lines.append(f"\nFinal: {summary['final_tasks']} verified, deduplicated, decontaminated tasks; "
                 f"teacher {summary['teacher_tokens']} tokens, {summary['teacher_tokens_per_wall_s']} tok/s of wall "
                 f"time in the teacher's stages; wall {summary['wall_s']} s over every run "
                 f"({summary['this_run_s']} s in this one).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="Teacher: openai:NAME (with --base-url) or hf:DIR")
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--packages", default=PACKAGES, help="Comma-separated PyPI packages for seed code")
    ap.add_argument("--n-oss", type=int, default=600, help="OSS-Instruct slots")
    ap.add_argument("--n-align", type=int, default=400, help="Seed functions fed to SelfCodeAlign")
    ap.add_argument("--samples", type=int, default=3, help="SelfCodeAlign responses per instruction")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-tokens", type=int, default=512, help="Reply limit of OSS-Instruct and responses")
    ap.add_argument("--concept-tokens", type=int, default=256, help="Reply limit of the concepts step")
    ap.add_argument("--instruct-tokens", type=int, default=512, help="Reply limit of the instruction step")
    ap.add_argument("--workers", type=int, default=16,
                    help="Teacher requests in flight (serve's --max-batch decodes them together)")
    ap.add_argument("--backend", default="auto", help="Sandbox for verification: docker, local or auto")
    ap.add_argument("--out", default="runs/bench/datagen-teacher")
    args = ap.parse_args()
    summary = run(args)
    write_json(Path(args.out) / "summary.json", summary)
    print(markdown(summary))
    print(json.dumps({"final_tasks": summary["final_tasks"], "wall_s": summary["wall_s"]}))


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
