"""One stage of a teacher pipeline: reads items, writes items, one at a time, resumable.

A stage's output directory holds
- ``fingerprint.json``: everything that made the output (stage, teacher, prompt template
  version, sampling settings, seed, and the SHA-256 of every input file). A run whose
  fingerprint differs from the one already there is refused: one output, one recipe;
- ``log.jsonl``: one line per finished item (its kept rows, its drops with reasons, its
  counts, and when it finished in which run). A killed run leaves whole lines; the next run
  skips every item already logged;
- ``tasks.jsonl`` (the kept rows, in input order) and ``stats.json`` (yields, drops by
  reason, teacher tokens and seconds, and ``wall_s``: the wall time the stage ran, summed
  over its runs, so a resumed stage reports what all of its items cost, not only the last
  run's), rewritten at the end of every run.

Yields follow the issue's vocabulary: ``generated`` (teacher replies), ``parsed`` (replies
that read as a task), ``executed`` (graded without an infrastructure error), ``passed`` and
``kept`` (after the stage's own filters).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchloop.types import append_jsonl, end_torn_line, iter_jsonl, sha256_file, write_json, write_jsonl

YIELD = ("generated", "parsed", "executed", "passed", "kept")
MAX_TEACHER_FAILURES = 3  # consecutive: an endpoint that is down stops the stage


class StageError(RuntimeError):
    """A stage that cannot run (refused fingerprint, dead teacher); ``str()`` is one line."""


def fingerprint_of(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Outcome:
    """What one item gave: rows to keep, drops (a reason each) and yield counts."""

    rows: list[dict] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    tokens: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0

    def drop(self, reason: str) -> None:
        self.drops.append(reason)


class Stage:
    """The output directory of one stage run; see the module docstring."""

    def __init__(self, out: str | Path, name: str, settings: dict[str, Any], inputs: Iterable[str | Path] = ()):
        self.out, self.name = Path(out), name
        digests = {Path(p).name: sha256_file(p) for p in inputs}
        self.settings = {"stage": name, **settings, "inputs": digests}
        self.fingerprint = fingerprint_of(self.settings)
        self._claim()
        self.log = self.out / "log.jsonl"
        self.done: dict[str, dict] = {}
        if self.log.exists():
            end_torn_line(self.log)
            for rec in iter_jsonl(self.log, skip_bad=True):
                if isinstance(rec.get("key"), str):
                    self.done[rec["key"]] = rec
        self.teacher_failures = 0
        self.teacher_errors: list[str] = []
        self.started = round(time.time(), 3)  # this run's start, the ``run`` of its records

    def _claim(self) -> None:
        fp = self.out / "fingerprint.json"
        if fp.exists():
            old = json.loads(fp.read_text(encoding="utf-8"))
            if old.get("fingerprint") != self.fingerprint:
                diff = sorted(k for k in set(old.get("settings", {})) | set(self.settings)
                              if old.get("settings", {}).get(k) != self.settings.get(k))
                raise StageError(f"{self.out}: made by another recipe (fingerprint {old.get('fingerprint')}, this "
                                 f"run's is {self.fingerprint}; differs in {', '.join(diff)}); use another --out")
            return
        self.out.mkdir(parents=True, exist_ok=True)
        write_json(fp, {"fingerprint": self.fingerprint, "settings": self.settings})

    def record(self, key: str, outcome: Outcome) -> None:
        rec = {"key": key, "rows": outcome.rows, "drops": outcome.drops, "counts": dict(outcome.counts),
               "tokens": outcome.tokens, "seconds": round(outcome.seconds, 3),
               "prompt_tokens": outcome.prompt_tokens, "cached_tokens": outcome.cached_tokens,
               "run": self.started, "at": round(time.time(), 3)}
        append_jsonl(self.log, rec)
        self.done[key] = rec
        self.teacher_failures = 0

    def teacher_failed(self, key: str, error: Exception) -> None:
        """An item the teacher could not answer: not logged (a rerun asks again), counted, and
        after a few in a row the stage stops, naming the cause."""
        line = f"{key}: teacher failed: {error}"
        self.teacher_errors.append(line)
        self.teacher_failures += 1
        if self.teacher_failures >= MAX_TEACHER_FAILURES:
            raise StageError(f"{self.name}: {MAX_TEACHER_FAILURES} teacher failures in a row, last {line}")

    def kept_rows(self) -> list[dict]:
        return [r for rec in self.done.values() for r in rec["rows"]]

    def finish(self, order: list[str] | None = None, extra: dict | None = None) -> dict:
        """Write ``tasks.jsonl`` and ``stats.json``; returns the stats."""
        keys = [k for k in order if k in self.done] if order is not None else list(self.done)
        write_jsonl(self.out / "tasks.jsonl", [r for k in keys for r in self.done[k]["rows"]])
        counts, drops = Counter(), Counter()
        tokens, seconds, prompt_tokens, cached_tokens = 0, 0.0, 0, 0
        for k in keys:
            rec = self.done[k]
            counts.update(rec.get("counts") or {})
            drops.update(d.split(":", 1)[0] for d in rec.get("drops") or [])
            tokens += int(rec.get("tokens") or 0)
            seconds += float(rec.get("seconds") or 0.0)
            prompt_tokens += int(rec.get("prompt_tokens") or 0)
            cached_tokens += int(rec.get("cached_tokens") or 0)
        stats = {"stage": self.name, "fingerprint": self.fingerprint, "items": len(keys),
                 **wall_time([self.done[k] for k in keys]),
                 "yield": {k: int(counts.get(k, 0)) for k in YIELD},
                 "counts": dict(sorted(counts.items())), "drops": dict(sorted(drops.items())),
                 "teacher": {"tokens": tokens, "seconds": round(seconds, 2),
                             "tokens_per_s": round(tokens / seconds, 2) if seconds else None,
                             "prompt_tokens": prompt_tokens, "cached_prompt_tokens": cached_tokens},
                 "teacher_errors_this_run": self.teacher_errors[:20], **(extra or {})}
        write_json(self.out / "stats.json", stats)
        return stats


def wall_time(records: list[dict]) -> dict:
    """``wall_s``: per run, from its start to its last finished item, summed over runs
    (records from before runs were stamped are counted in ``untimed_items``)."""
    ends: dict[float, float] = {}
    untimed = 0
    for rec in records:
        run, at = rec.get("run"), rec.get("at")
        if isinstance(run, (int, float)) and isinstance(at, (int, float)):
            ends[run] = max(ends.get(run, run), at)
        else:
            untimed += 1
    out: dict[str, Any] = {"wall_s": round(sum(end - start for start, end in ends.items()), 1), "runs": len(ends)}
    if untimed:
        out["untimed_items"] = untimed
    return out
