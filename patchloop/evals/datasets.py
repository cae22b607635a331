"""Load SWE-bench instances and predictions in the formats the official tools accept.

Instances: JSON (a list), JSONL, parquet, or a directory saved with ``Dataset.save_to_disk``
(``test`` split of a ``DatasetDict`` if there is one). Test lists may be JSON strings, as in
the official files. ``builtin`` names the instances shipped in ``examples/swe``.
Predictions: JSONL, JSON (a list, or a dict keyed by instance id, as SWE-bench accepts), or
the words ``gold`` (each instance's own ``patch``) and ``empty``.

Hostile input is normal: one bad line, instance or prediction becomes one ``RecordError``
passed to ``on_error`` (``FILE:LINE: cause`` or ``FILE: instance X: cause``) and loading goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from patchloop.types import Prediction, RecordError, Task

BUILTIN = Path(__file__).resolve().parents[2] / "examples" / "swe" / "instances.jsonl"
OnError = Callable[[RecordError], None]


def _raise(err: RecordError) -> None:
    raise err


def _rows(path: Path, on_error: OnError) -> Iterable[tuple[str, Any]]:
    """(where, raw record) pairs; ``where`` is ``FILE:LINE`` or ``FILE: item N``."""
    if path.is_dir():
        import datasets  # heavy; only for saved HF datasets

        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds["test"] if "test" in ds else ds[next(iter(ds))]
        for i, row in enumerate(ds):
            yield f"{path}: row {i}", row
        return
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path}: row {i}", row
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            on_error(RecordError(f"{path}:{e.lineno}", f"invalid JSON ({e.msg})"))
            return
        if isinstance(data, dict):  # SWE-bench predictions keyed by id
            data = [dict(v, instance_id=v.get("instance_id", k)) if isinstance(v, dict) else v
                    for k, v in data.items()]
        if not isinstance(data, list):
            on_error(RecordError(str(path), f"expected a JSON list or object, got {type(data).__name__}"))
            return
        for i, row in enumerate(data):
            yield f"{path}: item {i}", row
    else:  # JSONL (the default, whatever the suffix)
        with path.open(encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as e:
                    on_error(RecordError(f"{path}:{lineno}", f"invalid JSON ({e.msg})"))


def _name(row: Any) -> str:
    return f"instance {row.get('instance_id')}: " if isinstance(row, dict) and row.get("instance_id") else ""


def load_tasks(path: str | Path, *, on_error: OnError | None = None) -> list[Task]:
    """Instances from ``path`` (see module doc); bad ones go to ``on_error`` (default: raise)."""
    on_error = on_error or _raise
    path = BUILTIN if str(path) == "builtin" else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    tasks: list[Task] = []
    seen: set[str] = set()
    for where, row in _rows(path, on_error):
        try:
            task = Task.from_dict(row)
            if not isinstance(task.instance_id, str) or not task.instance_id:
                raise ValueError("instance_id must be a non-empty string")
            if task.instance_id in seen:
                raise ValueError("duplicate instance_id")
            if not isinstance(task.base_commit, str) or not task.base_commit.strip():
                raise ValueError('base_commit is missing: nothing says which state of the repository to fix and grade '
                                 '(write "HEAD" to take the repository as it is)')
            if not task.FAIL_TO_PASS:
                raise ValueError("FAIL_TO_PASS is empty: nothing would decide the verdict")
        except (ValueError, TypeError) as e:
            on_error(RecordError(where, f"{_name(row)}{e}"))
            continue
        seen.add(task.instance_id)
        # Relative repo paths in the file resolve against the file's directory (repos.py).
        task.extra.setdefault("_dataset_dir", str(path.resolve().parent))
        tasks.append(task)
    return tasks


def load_predictions(spec: str | Path, tasks: list[Task], *, on_error: OnError | None = None) -> dict[str, Prediction]:
    """Predictions by instance id: from a file, or ``gold`` / ``empty`` built from ``tasks``.

    A prediction for an unknown instance, a duplicate, or one without ``model_patch`` is an
    error; ``model_patch: null`` counts as an empty patch (as SWE-bench does).
    """
    on_error = on_error or _raise
    if str(spec) in ("gold", "empty"):
        return {t.instance_id: Prediction(t.instance_id, t.patch if spec == "gold" else "", str(spec))
                for t in tasks}
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"predictions not found: {path}")
    known = {t.instance_id for t in tasks}
    out: dict[str, Prediction] = {}
    for where, row in _rows(path, on_error):
        try:
            if not isinstance(row, dict):
                raise TypeError(f"expected a JSON object, got {type(row).__name__}")
            if "model_patch" not in row:
                raise ValueError("missing field(s): model_patch")
            row = dict(row, model_patch=row["model_patch"] or "")
            if not isinstance(row["model_patch"], str):
                raise TypeError("model_patch must be a string")
            pred = Prediction.from_dict(row)
            if pred.instance_id not in known:
                raise ValueError(f"unknown instance_id {pred.instance_id!r}")
            if pred.instance_id in out:
                raise ValueError(f"duplicate prediction for {pred.instance_id!r}")
        except (ValueError, TypeError) as e:
            on_error(RecordError(where, f"{_name(row)}{e}"))
            continue
        out[pred.instance_id] = pred
    return out
