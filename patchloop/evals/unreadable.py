"""Dataset rows that could not be read stay in a run's denominator.

A malformed JSONL line, or a row missing ``base_commit`` or ``FAIL_TO_PASS``, is an instance
the run could not grade: leaving it out would report "resolved 2/2 (100.0%)" for a file of
three. So each one is counted as submitted and not resolved, and ``report.json`` lists it
with its reason (``unreadable``: ``{"FILE:LINE": "why"}``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from patchloop.types import RecordError, write_json


def count_unreadable(report: dict, unreadable: Sequence[RecordError],
                     bad_predictions: Sequence[RecordError] = ()) -> dict:
    """``report`` (from ``build_report``) with the unreadable rows in its counts, and the
    prediction rows that were left out listed (``unreadable_predictions``); changed in place."""
    report["unreadable"] = {e.where: e.msg for e in unreadable}
    report["unreadable_predictions"] = {e.where: e.msg for e in bad_predictions}
    report["unreadable_instances"] = len(unreadable)
    if unreadable:
        report["total_instances"] = report.get("total_instances", 0) + len(unreadable)
        report["submitted_instances"] = n = report.get("submitted_instances", 0) + len(unreadable)
        report["resolved_rate"] = round(report.get("resolved_instances", 0) / n, 4) if n else 0.0
    return report


def record_unreadable(summary_path: Path, unreadable: Sequence[RecordError]) -> None:
    """Add the unreadable rows (problems, samples) to a written ``summary.json``, with reasons."""
    if not unreadable or not summary_path.exists():
        return
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["unreadable"] = {e.where: e.msg for e in unreadable}
    write_json(summary_path, summary)
