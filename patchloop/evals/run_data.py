"""What the comparison page needs from each run directory, read once and checked.

A run directory holds ``report.json`` (required), ``run.json`` (dataset, predictions, models),
``results.jsonl``, ``logs/<instance>.log`` and ``patches/<instance>.diff``. Reports written
before per-instance details were recorded still load: verdicts come from the id lists, and
the test counts are shown as unknown. An instance submitted but without a result (a killed
run) is ``missing``; one a run never saw is absent from that run's column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from patchloop.evals import grading
from patchloop.evals.swe import _safe_name

MISSING, UNREADABLE = "missing", "unreadable"


@dataclass
class Cell:
    """One instance in one run."""

    verdict: str
    reason: str = ""
    fail_to_pass: list = field(default_factory=lambda: [None, None])  # [passed or None, listed or None]
    pass_to_pass: list = field(default_factory=lambda: [None, None])
    log: Path | None = None
    patch: Path | None = None

    @property
    def resolved(self) -> bool:
        return self.verdict == grading.RESOLVED


@dataclass
class Run:
    name: str
    path: Path
    report: dict
    meta: dict
    cells: dict[str, Cell]
    date: str

    @property
    def models(self) -> list[str]:
        return self.meta.get("models") or self.report.get("models") or []

    def verdict_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.cells.values():
            counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
        return counts

    @property
    def resolved(self) -> set[str]:
        return {i for i, c in self.cells.items() if c.resolved}


def _json(path: Path, *, required: bool) -> dict:
    if not path.exists():
        if required:
            raise FileNotFoundError(f"{path.parent}: no report.json (run `patchloop eval swe` first)")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        if required:
            raise FileNotFoundError(f"{path}: unreadable ({e})") from None
        return {}
    return data if isinstance(data, dict) else {}


def _file(path: Path, nonempty: bool = False) -> Path | None:
    return path if path.is_file() and (not nonempty or path.stat().st_size > 0) else None


def _pair(value) -> list:
    """[passed, listed] as recorded, or unknown ([None, None]) for anything else."""
    ok = isinstance(value, list) and len(value) == 2 and all(v is None or type(v) is int for v in value)
    return list(value) if ok else [None, None]


def _cell(run_dir: Path, iid: str, info: dict) -> Cell:
    name = _safe_name(iid)
    log = _file(run_dir / "logs" / (info.get("log") or f"{name}.log"))
    return Cell(verdict=str(info.get("verdict") or grading.ERROR_VERDICT), reason=str(info.get("reason") or ""),
                fail_to_pass=_pair(info.get("fail_to_pass")), pass_to_pass=_pair(info.get("pass_to_pass")),
                log=log, patch=_file(run_dir / "patches" / f"{name}.diff", nonempty=True))


def _instances(report: dict) -> dict[str, dict]:
    """Per-instance details, or (older reports) verdicts rebuilt from the id lists."""
    if isinstance(report.get("instances"), dict):
        return {str(k): v if isinstance(v, dict) else {} for k, v in report["instances"].items()}
    out: dict[str, dict] = {}
    reasons = report.get("reasons") or {}
    for verdict in grading.VERDICTS:
        for iid in report.get(f"{verdict}_ids") or []:
            out[str(iid)] = {"verdict": verdict, "reason": reasons.get(iid, "")}
    return out


def _date(report: dict, path: Path) -> str:
    """When the report was written, in UTC; the file's time for reports that predate the field."""
    try:
        stamp, note = datetime.fromisoformat(str(report["created_at"])).astimezone(UTC), ""
    except (KeyError, ValueError):
        stamp, note = datetime.fromtimestamp(path.stat().st_mtime, UTC), " (file time)"
    return stamp.strftime("%Y-%m-%d %H:%M UTC") + note


def load_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    report = _json(run_dir / "report.json", required=True)
    cells = {iid: _cell(run_dir, iid, info) for iid, info in _instances(report).items()}
    reasons = report.get("reasons") or {}
    for iid in report.get("submitted_ids") or []:
        if str(iid) not in cells:
            cells[str(iid)] = Cell(MISSING, str(reasons.get(iid) or "submitted, but no result was recorded "
                                                "(run killed or unfinished)"))
    for where, why in (report.get("unreadable") or {}).items():  # dataset rows the harness could not read
        cells.setdefault(str(where), Cell(UNREADABLE, str(why)))
    name = str(report.get("run_id") or run_dir.name)
    return Run(name, run_dir, report, _json(run_dir / "run.json", required=False), cells,
               _date(report, run_dir / "report.json"))


def load_runs(run_dirs: list[str | Path]) -> list[Run]:
    """Every run, named uniquely (two dirs with the same run id get their folder appended)."""
    runs = [load_run(d) for d in run_dirs]
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.name] = seen.get(run.name, 0) + 1
    for run in runs:
        if seen[run.name] > 1:
            run.name = f"{run.name} ({run.path})"
    return runs


def instance_ids(runs: list[Run]) -> list[str]:
    """Every instance of any run, in first-seen order (a run's own order is the dataset's)."""
    out: dict[str, None] = {}
    for run in runs:
        for iid in run.report.get("submitted_ids") or []:
            out.setdefault(str(iid), None)
        for iid in run.cells:
            out.setdefault(iid, None)
    return list(out)


@dataclass
class Diff:
    """What changed from run ``a`` to run ``b``, over the instances both runs hold."""

    a: str
    b: str
    gained: list[str]
    lost: list[str]
    both: int
    neither: int
    only_a: list[str]
    only_b: list[str]


def pairwise(runs: list[Run]) -> list[Diff]:
    """Each earlier run against each later one, in the order given."""
    out = []
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            shared = [iid for iid in a.cells if iid in b.cells]
            out.append(Diff(
                a.name, b.name,
                gained=[x for x in shared if b.cells[x].resolved and not a.cells[x].resolved],
                lost=[x for x in shared if a.cells[x].resolved and not b.cells[x].resolved],
                both=sum(a.cells[x].resolved and b.cells[x].resolved for x in shared),
                neither=sum(not a.cells[x].resolved and not b.cells[x].resolved for x in shared),
                only_a=[x for x in a.cells if x not in b.cells],
                only_b=[x for x in b.cells if x not in a.cells]))
    return out
