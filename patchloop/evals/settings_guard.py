"""One output directory, one set of settings: the guard every resuming command shares.

A command that resumes (skips what its output directory already holds) must not mix two
runs: a rerun with another ``--timeout`` would keep the old TIMEOUT verdicts and report them
as the new run's. So the settings that decide the outputs are recorded in a JSON file next to
them on the first run, and a rerun whose settings differ is refused with one line naming each
setting that differs. A setting the record does not have yet (outputs made before it was
recorded) is added, so those directories resume.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from patchloop.types import write_json

MISSING = object()


class SettingsMismatch(ValueError):
    """A rerun into an output directory made with other settings. One line."""


def differences(old: Mapping[str, Any], new: Mapping[str, Any], *, keys=None) -> list[str]:
    """``"timeout 5.0, not 10.0"`` for each key both hold with different values (or each of
    ``keys``, where a missing value counts as one)."""
    names = [k for k in new if k in old] if keys is None else list(keys)
    return [f"{k} {old.get(k)!r}, not {new.get(k)!r}" for k in names if old.get(k, MISSING) != new.get(k, MISSING)]


def mismatch(where: Path | str, diffs: list[str], retry: str) -> SettingsMismatch:
    shown = "; ".join(diffs[:4]) + (" ..." if len(diffs) > 4 else "")
    return SettingsMismatch(f"{where} was made with {shown}: {retry}")


def read_record(path: Path) -> dict | None:
    """The JSON object at ``path``; None when absent. Unreadable is a mismatch, not a fresh start."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SettingsMismatch(f"{path} is unreadable ({e}): use another output directory") from None
    if not isinstance(data, dict):
        raise SettingsMismatch(f"{path} is not a JSON object: use another output directory")
    return data


def guard_settings(path: str | Path, settings: Mapping[str, Any], *, retry: str,
                   legacy: Mapping[str, Any] | None = None) -> None:
    """Record ``settings`` in ``path`` (merged with what is there), or raise
    :class:`SettingsMismatch` when a recorded one differs. ``legacy``: the settings of outputs
    made before ``path`` existed, when they can be read from elsewhere. ``retry`` ends the line
    (e.g. "use another --out, or the same settings to resume it")."""
    path = Path(path)
    settings = json.loads(json.dumps(dict(settings)))  # as they will read back (tuples -> lists)
    old = read_record(path)
    theirs = old if old is not None else dict(legacy or {})
    diffs = differences(theirs, settings)
    if diffs:
        raise mismatch(path.parent, diffs, retry)
    if old is None or any(k not in old for k in settings):
        write_json(path, {**(old or {}), **settings})
