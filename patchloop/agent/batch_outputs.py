"""What a batch run directory holds between runs, and the checks that keep it one run.

``run.json`` records the model, its sampling settings and the agent config the directory was
made with; a rerun with another model, sampling or config would skip the finished instances and leave the old model's
predictions under the new name, so it is refused (:class:`RunMismatch`) instead.

``predictions.jsonl`` has one row per instance a harness can read: the patch for a model
outcome, an empty patch plus ``error`` for an infrastructure failure (the instance still
counts, as unresolved). Rows with an ``error`` are retried on a rerun; the others are kept.
The file is rewritten whole and atomically each time an instance ends, so it never holds
two rows for one instance.
"""

from __future__ import annotations

import json
from pathlib import Path

from patchloop.evals.settings_guard import SettingsMismatch, differences, mismatch
from patchloop.types import Prediction, iter_jsonl, write_json, write_jsonl

IGNORED_KEYS = ("python",)  # set per workspace, not by the user: no part of the run's identity


class RunMismatch(SettingsMismatch):
    """``--out`` was made by a run with another model or config. One line."""


def check_run(out: Path, model_spec: str, cfg: dict, sampling: dict | None = None) -> None:
    """Record the run's identity in ``out/run.json``, or refuse when it differs from the one there.
    ``sampling`` is recorded only when set, so directories from before it resume unchanged."""
    mine = {"model": model_spec, "config": {k: v for k, v in cfg.items() if k not in IGNORED_KEYS}}
    if sampling:
        mine["sampling"] = dict(sampling)
    path = out / "run.json"
    theirs = _read(path) or _read(out / "summary.json")  # summary.json: directories from before run.json
    if theirs is None:
        write_json(path, mine)
        return
    diffs = []
    if theirs.get("model") != model_spec:
        diffs.append(f"model {theirs.get('model')!r}, not {model_spec!r}")
    if (theirs.get("sampling") or {}) != (sampling or {}):
        diffs.append(f"sampling {theirs.get('sampling') or 'the default'!r}, not {sampling or 'the default'!r}")
    old = {k: v for k, v in (theirs.get("config") or {}).items() if k not in IGNORED_KEYS}
    diffs += differences(old, mine["config"], keys=sorted(set(old) | set(mine["config"])))
    if diffs:
        raise RunMismatch(str(mismatch(out, diffs, "use another --out, or the same settings to resume it")))
    if not path.exists():
        write_json(path, mine)


def _read(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "model" in data else None


class Predictions:
    """The latest row per instance of ``predictions.jsonl`` (see module doc)."""

    def __init__(self, out: Path, on_error=None):
        self.path = out / "predictions.jsonl"
        self.rows: dict[str, Prediction] = {}
        if self.path.exists():
            for p in iter_jsonl(self.path, Prediction, skip_bad=True, on_error=on_error):
                self.rows[p.instance_id] = p

    def finished(self) -> set[str]:
        """Instances with a model outcome; those that ended in an error are not finished."""
        return {i for i, p in self.rows.items() if not p.extra.get("error")}

    def record(self, instance_id: str, model_spec: str, patch: str = "", error: str | None = None) -> None:
        extra = {"error": error} if error else {}
        self.rows[instance_id] = Prediction(instance_id, patch, model_spec, extra)
        write_jsonl(self.path, list(self.rows.values()))


def finished_ids(out: Path, on_error=None) -> set[str]:
    return Predictions(out, on_error).finished()
