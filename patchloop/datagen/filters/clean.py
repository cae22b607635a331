"""``datagen clean``: the cleaning stage every dataset passes before training sees it.

Order: PII and secrets replaced (a task whose text changed is graded again: a placeholder in a
test can break it, and a broken task is dropped, counted); exact and near dedup; then
decontamination against HumanEval, the SWE-style instance sets and held-out splits given.
Outputs: ``tasks.jsonl``, ``removed.jsonl`` (every removed row: stage, reason, evidence),
``decontam.json`` (the decontamination report), the marker ``tasks.decontam.json`` that
training checks, and the data card (``card.json``, ``card.md``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from patchloop.datagen.filters.card import write_card
from patchloop.datagen.filters.decontam import DecontamConfig, Decontaminator, load_benchmarks
from patchloop.datagen.filters.dedup import DedupConfig, dedup
from patchloop.datagen.filters.guard import write_marker
from patchloop.datagen.filters.pii import redact_row
from patchloop.datagen.filters.text import row_id
from patchloop.datagen.instruct.stage import Stage
from patchloop.types import FunctionTask, read_jsonl, write_json, write_jsonl

PII_FIELDS = ("prompt", "canonical_solution", "test", "instruction")


def _redact_all(rows: list[dict], grader: Callable | None) -> tuple[list[dict], Counter, list[dict]]:
    """Rows with PII replaced; rows whose redacted form no longer verifies are removed."""
    total, out, changed = Counter(), [], []
    for row in rows:
        new, counts = redact_row(row, PII_FIELDS)
        total += counts
        out.append(new)
        if counts and any(new.get(f) != row.get(f) for f in ("prompt", "canonical_solution", "test")):
            changed.append(len(out) - 1)
    removed: list[dict] = []
    if changed and grader is not None:
        tasks = [FunctionTask.from_dict(out[i]) for i in changed]
        results = grader(tasks, [t.canonical_solution for t in tasks])
        bad = {i for i, r in zip(changed, results) if not r.passed}
        removed = [{"id": row_id(out[i], i), "stage": "pii", "reason": "redaction_broke_task"} for i in sorted(bad)]
        out = [r for i, r in enumerate(out) if i not in bad]
    return out, total, removed


def _upstream(inputs: Sequence[Path]) -> tuple[list[dict], list[str], str | None]:
    """Stage stats and fingerprints found next to the inputs (what the card reports)."""
    stages, sources, teacher = [], [], None
    for p in inputs:
        stats, fp = p.parent / "stats.json", p.parent / "fingerprint.json"
        if stats.exists():
            stages.append(json.loads(stats.read_text(encoding="utf-8")))
        if fp.exists():
            settings = json.loads(fp.read_text(encoding="utf-8")).get("settings", {})
            teacher = teacher or (settings.get("teacher") or {}).get("model")
        sources.append(str(p))
    return stages, sources, teacher


def run_clean(inputs: Sequence[Path], out: Path, *, grader: Callable | None, name: str = "dataset",
              swe: Sequence[Path] = (), heldout: Sequence[Path] = (), use_humaneval: bool = True,
              builtin_swe: bool = True, dedup_cfg: DedupConfig | None = None, decontam_cfg: DecontamConfig | None = None) -> dict:
    dedup_cfg, decontam_cfg = dedup_cfg or DedupConfig(), decontam_cfg or DecontamConfig()
    stage = Stage(out, "clean", {"dedup": asdict(dedup_cfg), "decontam": asdict(decontam_cfg),
                                 "humaneval": use_humaneval, "builtin_swe": builtin_swe, "swe": [str(p) for p in swe],
                                 "heldout": [str(p) for p in heldout]}, inputs=[*inputs, *swe, *heldout])
    rows = [r for p in inputs for r in read_jsonl(p)]
    rows, pii, removed = _redact_all(rows, grader)
    dd = dedup(rows, dedup_cfg)
    removed += [{**r.to_dict(), "stage": "dedup"} for r in dd.removed]
    benchmarks = load_benchmarks(use_humaneval=use_humaneval, builtin_swe=builtin_swe, swe=swe, heldout=heldout)
    dec = Decontaminator(benchmarks, decontam_cfg)
    before = dec.run(dd.kept)  # the kept rows of this run are the after
    after = dec.run(before.kept)
    removed += [{**r, "stage": "decontam"} for r in before.removed]
    write_jsonl(out / "tasks.jsonl", before.kept)
    write_jsonl(out / "removed.jsonl", removed)
    report = {**before.report(), "benchmarks": [b.name for b in benchmarks], "ngram": decontam_cfg.ngram,
              "humaneval": _humaneval_figures(before, after, use_humaneval)}
    write_json(out / "decontam.json", report)
    write_marker(out / "tasks.jsonl", {"fingerprint": stage.fingerprint, "benchmarks": report["benchmarks"],
                                       "removed": report["removed"], "humaneval": report["humaneval"]})
    card = _card(name, inputs, before.kept, dd.counts(), dedup_cfg, report, pii, removed, stage.fingerprint)
    write_card(out, card)
    return card


def _humaneval_figures(before, after, used: bool) -> dict:
    if not used:
        return {}
    return {"contaminated_before": sum(r["benchmark"] == "humaneval" for r in before.removed),
            "contaminated_after": sum(r["benchmark"] == "humaneval" for r in after.removed),
            "touching_before": before.touching.get("humaneval", 0),
            "touching_after": after.touching.get("humaneval", 0)}


def _card(name, inputs, kept, dd_counts, dedup_cfg, report, pii, removed, fingerprint) -> dict:
    stages, sources, teacher = _upstream(inputs)
    licences = Counter(str(r.get("seed_licence") or "no seed (procedural or seed tasks)") for r in kept)
    return {
        "name": name, "tasks": len(kept), "fingerprint": fingerprint, "teacher": teacher,
        "sources": sources, "licences": dict(licences),
        "stages": [{"stage": s.get("stage"), "yield": s.get("yield"), "drops": s.get("drops"),
                    "fingerprint": s.get("fingerprint"), "teacher": s.get("teacher")} for s in stages],
        "cleaning": {
            "dedup": {**dd_counts, "settings": f"{dedup_cfg.shingle}-gram shingles, {dedup_cfg.num_perm} "
                                               f"permutations, Jaccard {dedup_cfg.threshold}"},
            "decontamination": {k: v for k, v in report.items() if k != "items"},
            "pii": dict(pii), "reverify_failed": sum(r["stage"] == "pii" for r in removed)},
    }
