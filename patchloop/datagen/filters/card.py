"""A data card per dataset, as JSON (for tools) and Markdown (for people).

The card says where the data came from (sources and their licences), who wrote it (the
teacher), what each stage produced and dropped (yields), what cleaning removed (dedup,
decontamination, PII) and the fingerprint of everything that made it. Missing sections are
written as "not recorded", never guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patchloop.types import write_json


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def markdown(card: dict) -> str:
    out = [f"# Data card: {card.get('name', 'dataset')}", "", f"Tasks: **{card.get('tasks', 0)}**  ",
           f"Fingerprint: `{card.get('fingerprint') or 'not recorded'}`  ",
           f"Teacher: {card.get('teacher') or 'not recorded'}", ""]
    out += ["## Sources and licences", ""]
    licences = card.get("licences") or {}
    out += _table(["licence", "tasks"], [[k, v] for k, v in sorted(licences.items())]) if licences else ["not recorded"]
    sources = card.get("sources") or []
    if sources:
        out += ["", *(f"- {s}" for s in sources)]
    out += ["", "## Stages and yields", ""]
    stages = card.get("stages") or []
    cols = ["generated", "parsed", "executed", "passed", "kept"]
    out += _table(["stage", *cols], [[s.get("stage", "?"), *(s.get("yield", {}).get(c, "") for c in cols)]
                                     for s in stages]) if stages else ["not recorded"]
    dropped = [(s.get("stage", "?"), s["drops"]) for s in stages if s.get("drops")]
    if dropped:  # per stage: stages share reasons (failed_own_tests), and one total would hide whose
        out += ["", "Drops by reason:", ""]
        out += [f"- {stage}: " + ", ".join(f"{k} {v}" for k, v in sorted(drops.items())) for stage, drops in dropped]
    out += ["", "## Cleaning", ""]
    clean = card.get("cleaning") or {}
    dd = clean.get("dedup") or {}
    out.append(f"- dedup: {dd.get('exact', 0)} exact and {dd.get('near', 0)} near duplicates removed "
               f"(MinHash LSH, {dd.get('settings', '')})" if dd else "- dedup: not run")
    dc = clean.get("decontamination") or {}
    if dc:
        out.append(f"- decontamination: {dc.get('removed', 0)} removed against {', '.join(dc.get('benchmarks', []))}")
        for name, per in (dc.get("removed_by_benchmark") or {}).items():
            out.append(f"  - {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(per.items())))
        he = dc.get("humaneval") or {}
        if he:
            out.append(f"- HumanEval: {he.get('contaminated_before', 0)} tasks contaminated before, "
                       f"{he.get('contaminated_after', 0)} after; {he.get('touching_before', 0)} shared a "
                       f"{dc.get('ngram', '')}-gram before, {he.get('touching_after', 0)} after")
    else:
        out.append("- decontamination: not run")
    pii = clean.get("pii") or {}
    out.append("- PII/secrets replaced: " + (", ".join(f"{k} {v}" for k, v in sorted(pii.items())) or "none")
               if "pii" in clean else "- PII: not run")
    if clean.get("reverify_failed"):
        out.append(f"- dropped because redaction broke the task: {clean['reverify_failed']}")
    return "\n".join(out) + "\n"


def write_card(out_dir: str | Path, card: dict) -> None:
    """``card.json`` and ``card.md`` in ``out_dir``."""
    out = Path(out_dir)
    write_json(out / "card.json", card)
    tmp = out / ".card.md.tmp"
    tmp.write_text(markdown(card), encoding="utf-8")
    tmp.replace(out / "card.md")
