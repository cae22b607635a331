"""What training code calls before it trains on a dataset.

``check_humaneval(path)`` measures a training set against HumanEval and prints one line;
``require_decontaminated(path)`` refuses (one-line :class:`NotDecontaminated`) a data file that
has not been through ``patchloop datagen clean``: the marker the clean stage writes next to its
output names the file's SHA-256, so an edited or swapped file is refused too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from patchloop.types import read_jsonl, sha256_file, write_json

MARKER_SUFFIX = ".decontam.json"


class NotDecontaminated(ValueError):
    """A dataset without a valid decontamination marker; ``str()`` is one line."""


def data_file(path: str | Path) -> Path:
    """The task file of a path: the file itself, or ``tasks.jsonl`` in a datagen output dir."""
    p = Path(path)
    if p.is_dir():
        p = p / "tasks.jsonl"
    if not p.is_file():
        raise NotDecontaminated(f"{path}: no task file (a JSONL file, or a directory holding tasks.jsonl)")
    return p


def marker_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.name.removesuffix(".jsonl") + MARKER_SUFFIX)


def write_marker(path: str | Path, report: dict) -> Path:
    """Record that ``path`` (as it is now) came out of decontamination, with its report."""
    marker = marker_path(path)
    write_json(marker, {"file": Path(path).name, "sha256": sha256_file(path), **report})
    return marker


def require_decontaminated(path: str | Path) -> dict:
    """The marker of a decontaminated data file; raises :class:`NotDecontaminated` otherwise."""
    p = data_file(path)
    marker = marker_path(p)
    if not marker.exists():
        raise NotDecontaminated(f"{p}: not decontaminated (no {marker.name}); run `patchloop datagen clean` on it")
    try:
        rec = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise NotDecontaminated(f"{marker}: unreadable marker ({e})") from None
    if rec.get("sha256") != sha256_file(p):
        raise NotDecontaminated(f"{p}: changed since it was decontaminated ({marker.name} names another file)")
    return rec


def check_humaneval(path: str | Path, *, echo: Callable[[str], None] | None = print,
                    humaneval_file: str | Path | None = None) -> dict:
    """How many tasks of a training file touch HumanEval: removed-grade contamination (verbatim
    prompt/docstring/solution, or most of an item's n-grams) and any shared n-gram. Prints one
    line through ``echo`` and returns the figures with the offending task ids."""
    from patchloop.datagen.filters.decontam import Decontaminator, humaneval

    p = data_file(path)
    rows = read_jsonl(p)
    res = Decontaminator([humaneval(humaneval_file)]).run(rows)
    out = {"file": str(p), "tasks": len(rows), "contaminated": len(res.removed),
           "touching": res.touching.get("humaneval", 0), "items": res.removed}
    if echo is not None:
        echo(f"{p}: {out['contaminated']} of {out['tasks']} tasks contaminated by HumanEval, "
             f"{out['touching']} share an n-gram with it")
    return out
