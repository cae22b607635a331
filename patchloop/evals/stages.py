"""Stage records: how a benchmark longer than one machine's life is run and reported.

A long benchmark is cut into named stages (tasks, start, one arm per method and seed,
report). Each stage ends by writing one small JSON record under ``bench/results/<bench>/``
(committed: per-item verdicts, figures, settings, machine, engine, commit), and ``report``
builds its table from those records alone, on any machine, later.

Two defences keep such a table honest:

* a record carries a checksum of each of its fields; a record edited by hand is refused,
  naming the field;
* records that disagree on what must be equal across a comparison (the engine, its dtype
  and version, the evaluation settings) are refused together, naming the field and both
  stages, rather than put in one table.

A stage interrupted midway keeps its spent wall time in a budget file next to its run
outputs (:class:`WallBudget`), so "equal wall time" arms stay equal across restarts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

MAX_RECORD_BYTES = 1_000_000
_SEALED = "checksums"


class StageError(ValueError):
    """A record that cannot be used: unreadable, edited, too big, or not comparable."""


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def commit_of(repo: str | Path = ".") -> str:
    """``HEAD``'s hash, with ``+dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def write_stage(results_dir: str | Path, bench: str, stage: str, *, settings: dict, engine: dict | None,
                figures: dict, items: list[dict] | dict | None = None, wall_s: float | None = None) -> Path:
    """Seal and write ``<results_dir>/<stage>.json`` atomically; refused when over 1 MB."""
    record = {"bench": bench, "stage": stage, "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "commit": commit_of(), "settings": settings, "engine": engine or {},
              "machine": (engine or {}).get("machine", {}), "wall_s": wall_s, "figures": figures,
              "items": items if items is not None else []}
    record[_SEALED] = {k: fingerprint(v) for k, v in record.items()}
    text = json.dumps(record, indent=1, sort_keys=True, default=str) + "\n"
    if len(text.encode()) > MAX_RECORD_BYTES:
        raise StageError(f"{bench}/{stage}: record of {len(text.encode())} bytes is over the 1 MB a committed "
                         "record may take; keep per-item verdicts, not outputs")
    path = Path(results_dir) / f"{stage}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def read_stage(path: str | Path) -> dict:
    """A record whose every field still matches its checksum; :class:`StageError` otherwise."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StageError(f"{path}: not a readable stage record ({type(e).__name__})") from None
    sums = record.pop(_SEALED, None) if isinstance(record, dict) else None
    if not isinstance(sums, dict):
        raise StageError(f"{path}: no checksums; a stage record is written by its stage, not by hand")
    for field in sorted(set(sums) | set(record)):
        if field not in record or field not in sums or fingerprint(record[field]) != sums[field]:
            raise StageError(f"{path}: field {field!r} differs from what its stage wrote (edited by hand?)")
    return record


def read_stages(results_dir: str | Path) -> dict[str, dict]:
    """Every record of a benchmark, by stage name (``report.json`` and non-records left out)."""
    out = {}
    for p in sorted(Path(results_dir).glob("*.json")):
        if p.stem != "report":
            out[p.stem] = read_stage(p)
    return out


def _get(record: dict, dotted: str) -> Any:
    cur: Any = record
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def require_same(records: dict[str, dict], fields: list[str]) -> None:
    """Refuse records that differ on any of ``fields`` (dotted paths), naming the first."""
    names = sorted(records)
    for field in fields:
        for a, b in zip(names, names[1:]):
            if _get(records[a], field) != _get(records[b], field):
                raise StageError(f"stages {a!r} and {b!r} differ in {field} ({_get(records[a], field)!r} vs "
                                 f"{_get(records[b], field)!r}); they cannot be compared in one report")


class WallBudget:
    """Wall seconds a stage has spent, kept across restarts in ``path`` (a run output).

    ``left()`` is the budget minus every earlier run's time and this one's so far; ``save()``
    is called as the stage goes (after each item), so a kill loses at most one item's time."""

    def __init__(self, path: str | Path, budget_s: float):
        self.path, self.budget_s = Path(path), float(budget_s)
        self.before = float(json.loads(self.path.read_text()).get("spent_s", 0.0)) if self.path.exists() else 0.0
        self._t0 = time.monotonic()

    def spent(self) -> float:
        return self.before + time.monotonic() - self._t0

    def left(self) -> float:
        return self.budget_s - self.spent()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"spent_s": round(self.spent(), 3), "budget_s": self.budget_s}))
