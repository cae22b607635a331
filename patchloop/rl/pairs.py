"""Preference pairs by execution: for one prompt, a passing sample is ``chosen`` and a failing
one ``rejected``.

The rows are TRL's preference format: conversational (``prompt`` a user message list,
``chosen``/``rejected`` one assistant message each) for chat prompts, plain text for completion
prompts, plus the ``task_id`` they came from. A sample the grader could not score (infrastructure
failure) is neither: it is not known to be wrong. Written as JSONL, which ``datasets`` loads as is.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from patchloop.rl.data import DataError, model_prompt
from patchloop.rl.sampling import as_completion

log = logging.getLogger(__name__)

PAIR_COLUMNS = ("prompt", "chosen", "rejected")


def _distinct(samples: list[dict]) -> list[str]:
    out: dict[str, str] = {}
    for s in samples:
        out.setdefault(s["completion"].strip(), s["completion"])
    return list(out.values())


def build_pairs(records: list[dict], prompts: dict[str, str], prompt_format: str,
                max_per_prompt: int) -> list[dict]:
    """Pairs from graded samples (``patchloop.rl.sampling`` records); ``prompts`` maps a task id
    to its task prompt. Each distinct passing and failing completion is used at most once."""
    pairs = []
    for rec in records:
        chosen = _distinct([s for s in rec["samples"] if s["passed"]])
        rejected = _distinct([s for s in rec["samples"] if not s["passed"] and s.get("reward") is not None])
        prompt = model_prompt(prompts[rec["task_id"]], prompt_format)
        for c, r in list(zip(chosen, rejected))[:max_per_prompt]:
            pairs.append({"task_id": rec["task_id"], "prompt": prompt, "chosen": as_completion(c, prompt_format),
                          "rejected": as_completion(r, prompt_format)})
    return pairs


def _bad_row(row: object) -> str | None:
    if not isinstance(row, dict):
        return "not a JSON object"
    missing = [k for k in PAIR_COLUMNS if k not in row]
    if missing:
        return f"missing {', '.join(missing)}"
    kinds = {type(row[k]) for k in PAIR_COLUMNS}
    if len(kinds) != 1 or not kinds <= {str, list}:
        return "prompt, chosen and rejected must all be text or all message lists"
    if row["chosen"] == row["rejected"]:
        return "chosen and rejected are the same answer"
    return None


def load_pairs(path: str | Path):
    """A preference dataset from ``pairs.jsonl`` (a bad row is one warning line naming it, and
    skipped) or from a saved ``datasets`` directory."""
    import datasets

    p = Path(path)
    if p.is_dir():
        ds = datasets.load_from_disk(str(p))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds["train"] if "train" in ds else next(iter(ds.values()))
        missing = [k for k in PAIR_COLUMNS if k not in ds.column_names]
        if missing:
            raise DataError(f"{p}: not a preference dataset (missing {', '.join(missing)})")
        return ds
    if not p.exists():
        raise DataError(f"{p}: no such preference dataset")
    rows = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            log.warning("%s:%d: skipped, not JSON (%s)", p, n, e.msg)
            continue
        why = _bad_row(row)
        if why:
            log.warning("%s:%d: skipped, %s", p, n, why)
            continue
        rows.append({k: row[k] for k in (*PAIR_COLUMNS, "task_id") if k in row})
    if not rows:
        raise DataError(f"{p}: no usable preference pairs")
    return datasets.Dataset.from_list(rows)


def _flat(value) -> str:
    """A conversational column (a list of messages) or a plain one, as text."""
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in value)
    return str(value or "")


def decontam_rows(dataset) -> list[dict]:
    """The pairs as rows datagen's decontamination reads: the prompt, and what either answer
    would teach (a user's pairs file may be built from anything, HumanEval included)."""
    return [{"task_id": row.get("task_id") or f"pair-{i}", "prompt": _flat(row["prompt"]),
             "canonical_solution": _flat(row["chosen"]) + "\n" + _flat(row["rejected"])}
            for i, row in enumerate(dataset)]
