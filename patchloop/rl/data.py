"""Function tasks -> TRL training rows, and rows -> ``FunctionTask`` for the grader.

Tasks come from ``patchloop datagen functions`` (a DatasetDict under ``DIR/hf``, or JSONL per
split), from a teacher pipeline's output once ``patchloop datagen clean`` has been through it
(``DIR/tasks.jsonl``), or from an official HumanEval/MBPP file. Two prompt formats: ``completion`` (the model continues the signature + docstring, as
base and tiny models do) and ``chat`` (the task goes in a user message, the answer is a fenced
code block, as instruct models expect; the prompts live in ``evals.prompts``). The grader sees
the same program either way: rewards hand it the raw completion, which ``evals.extract`` reads.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from patchloop.evals.extract import completion_text  # noqa: F401 -- TRL completions as text
from patchloop.evals.prompts import model_prompt  # noqa: F401 -- one prompt for training and eval
from patchloop.types import FunctionTask

# Official benchmark fields the grader needs besides ``test``/``cases`` (MBPP's asserts).
OFFICIAL_TEST_COLUMNS = ("test_list", "test_imports", "test_setup_code")
TASK_COLUMNS = ("task_id", "entry_point", "test", "cases", "level", "family", "task_prompt", *OFFICIAL_TEST_COLUMNS)


class DataError(ValueError):
    """A task directory or row that cannot be used (message names the path/row and cause)."""




def load_split(path: str | Path, split: str):
    """The ``split`` of a task directory as a ``datasets.Dataset``.

    Besides ``datagen functions`` output, takes problems in the official HumanEval or MBPP
    formats (a JSONL/JSON file, or a saved dataset): they are read by the evaluation harness
    and turned into the same row shape, so the trainers and the reward see one format."""
    import datasets

    p = Path(path)
    if p.is_file():
        return datasets.Dataset.from_list(_official_rows(p, None))
    for cand in (p / "hf", p):
        if (cand / "dataset_dict.json").exists():
            dd = datasets.load_from_disk(str(cand))
            if split not in dd:
                raise DataError(f"{cand}: no split {split!r} (have {', '.join(dd)})")
            ds = dd[split]
            if "prompt" in ds.column_names and "entry_point" in ds.column_names:
                return ds  # datagen rows, or HumanEval's own
            return datasets.Dataset.from_list(_official_rows(cand, split))
    jsonl = p / f"{split}.jsonl"
    if jsonl.exists():
        return datasets.load_dataset("json", data_files=str(jsonl), split="train")
    if (p / "tasks.jsonl").exists():  # a datagen stage's output: one set of tasks, whatever the split
        return datasets.Dataset.from_list(_official_rows(p / "tasks.jsonl", None))
    raise DataError(f"{p}: neither a saved DatasetDict (hf/), {split}.jsonl, tasks.jsonl, nor a HumanEval/MBPP file")


def require_cleaned(path: str | Path) -> dict | None:
    """Refuse teacher-made tasks that have not been through ``patchloop datagen clean``.

    A task file inside a datagen stage's output (its directory holds the stage's
    ``fingerprint.json``) is trained on only with the marker ``datagen clean`` writes beside it,
    naming the file's SHA-256 and HumanEval among the benchmarks it was checked against: the
    teacher's tasks may copy a benchmark, and the clean stage checks them against HumanEval, the
    built-in SWE-style instances and any SWE-style sets and held-out splits it is given. A user's
    own file elsewhere (MBPP, say) is checked against HumanEval by ``refuse_humaneval_overlap``,
    as every training set is. Returns the marker, or None where no marker is needed."""
    from patchloop.datagen.filters.guard import NotDecontaminated, require_decontaminated

    p = Path(path)
    task_file = p if p.is_file() else p / "tasks.jsonl"
    if task_file.suffix != ".jsonl" or not task_file.is_file() or not (task_file.parent / "fingerprint.json").exists():
        return None
    try:
        marker = require_decontaminated(task_file)
    except NotDecontaminated as e:
        raise DataError(str(e)) from None
    if "humaneval" not in marker.get("benchmarks", []):
        raise DataError(f"{task_file}: cleaned without HumanEval decontamination (datagen clean --no-humaneval); "
                        f"run `patchloop datagen clean` on it again with HumanEval")
    return marker


def _official_rows(path: Path, split: str | None) -> list[dict]:
    """HumanEval/MBPP problems as datagen-shaped rows (bad rows are logged and skipped)."""
    import logging

    from patchloop.evals.func.evaluate import load_func_problems

    warn = logging.getLogger(__name__).warning
    try:
        tasks = load_func_problems(path, split=split, on_error=lambda e: warn("skipped %s", e))
    except FileNotFoundError as e:
        raise DataError(str(e)) from None
    if not tasks:
        raise DataError(f"{path}: no usable HumanEval/MBPP problems")
    rows = []
    for t in tasks.values():
        row = {"task_id": t.task_id, "prompt": t.prompt, "entry_point": t.entry_point, "test": t.test,
               "canonical_solution": t.canonical_solution, "family": str(t.extra.get("family") or ""),
               "level": int(t.extra.get("level") or 0), "cases": json.dumps(t.extra.get("cases") or [])}
        for key in OFFICIAL_TEST_COLUMNS:
            row[key] = json.dumps(t.extra.get(key) or ([] if key != "test_setup_code" else ""))
        rows.append(row)
    return rows


def select(ds, *, levels=None, families=None, level_caps=None, level_weights=None, max_samples=None, seed=0):
    """Filter by level/family, keep at most ``level_caps[level]`` distinct rows of a level (the
    first by task id, so the kept set does not depend on the seed), optionally resample to
    level shares, cap, shuffle (seeded)."""
    rows = [r for r in ds if (levels is None or int(r.get("level", 0)) in levels)
            and (families is None or r.get("family") in families)]
    if level_caps:
        caps = {int(k): int(v) for k, v in level_caps.items()}
        seen: dict[int, int] = {}
        kept = []
        for r in sorted(rows, key=lambda r: str(r.get("task_id", ""))):
            lv = int(r.get("level", 0))
            seen[lv] = seen.get(lv, 0) + 1
            if lv not in caps or seen[lv] <= caps[lv]:
                kept.append(r)
        rows = kept
    rng = random.Random(seed)
    if level_weights:
        by: dict[int, list[dict]] = {}
        for r in rows:
            by.setdefault(int(r.get("level", 0)), []).append(r)
        n = max_samples or len(rows)
        rows = []
        for lv, w in level_weights.items():
            pool = list(by.get(int(lv), []))
            rng.shuffle(pool)
            # A small level is cycled rather than dropped: the share is what the curriculum asks for.
            rows += [pool[i % len(pool)] for i in range(round(n * w))] if pool else []
    rng.shuffle(rows)
    return rows[:max_samples] if max_samples else rows


def training_rows(data, default_split: str, seed: int) -> list[dict]:
    """The rows a trainer's ``DataSettings`` asks for: its split (or ``default_split``) with
    every level/family/cap/share/size filter of ``select`` applied, shuffled by ``seed``, and
    without the ``data.validation_size`` tasks held back for validation."""
    split = data.split or default_split
    require_cleaned(data.path)
    ds = load_split(data.path, split)
    refuse_test_set(ds, f"{data.path}:{split}")
    refuse_humaneval_overlap(ds, f"{data.path}:{split}")
    held = {r["task_id"] for r in validation_rows(ds, getattr(data, "validation_size", 0))}
    if held:
        ds = ds.filter(lambda r: str(r.get("task_id")) not in held)
    return select(ds, levels=data.levels, families=data.families, level_caps=data.level_caps,
                  level_weights=data.level_weights, max_samples=data.max_samples, seed=seed)


# Benchmarks that are only ever a test: training or tuning on them would make their score a
# measure of memory. Task ids are how their rows say where they come from.
TEST_ONLY_PREFIXES = ("HumanEval/",)


def refuse_test_set(rows, where: str) -> None:
    """Raise ``DataError`` when ``rows`` hold tasks of a test-only benchmark (HumanEval)."""
    for r in rows:
        tid = str(r.get("task_id", ""))
        if tid.startswith(TEST_ONLY_PREFIXES):
            raise DataError(f"{where}: task {tid} is HumanEval, which is only ever a test; "
                            "train and validate on datagen tasks")


def refuse_humaneval_overlap(rows, where: str) -> dict:
    """Check training rows against HumanEval (prompts, docstrings, solutions) with datagen's
    decontamination, print the result with the run, and refuse contaminated data: a score on
    HumanEval must never measure memory of it. Rows that only share an n-gram are counted."""
    import sys

    from patchloop.datagen.filters.decontam import Decontaminator, humaneval

    res = Decontaminator([humaneval()]).run([dict(r) for r in rows])
    n, touching = len(res.removed), res.touching.get("humaneval", 0)
    print(f"decontamination {where}: {n} of {res.checked} tasks contaminated by HumanEval, "
          f"{touching} share an n-gram with it", file=sys.stderr, flush=True)
    if n:
        first = res.removed[0]
        raise DataError(f"{where}: {n} tasks contaminated by HumanEval (e.g. {first['id']} ~ {first['item']}, "
                        f"{first['reason']}); run `patchloop datagen clean` on the data")
    return {"checked": res.checked, "contaminated": n, "touching": touching}


def validation_rows(rows, n: int) -> list[dict]:
    """The ``n`` tasks of a split held back for validation: distinct task ids ranked by a hash,
    so the choice is fixed by the split alone (not by the seed, not by row order)."""
    if n <= 0:
        return []
    import hashlib

    by_id: dict[str, dict] = {}
    for r in rows:
        by_id.setdefault(str(r.get("task_id", "")), dict(r))
    if n >= len(by_id):
        raise DataError(f"validation_size={n} would hold back every one of the split's {len(by_id)} tasks")
    ranked = sorted(by_id, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    return [by_id[t] for t in ranked[:n]]


def row_to_task(row: dict[str, Any]) -> FunctionTask:
    """Rebuild the grader's record from a (possibly flattened) dataset row."""
    extra = dict(row.get("extra") or {})
    for key in ("family", "level", "params", "cases", *OFFICIAL_TEST_COLUMNS):
        if key in row and row[key] is not None:
            val = row[key]
            json_text = key in ("params", "cases", *OFFICIAL_TEST_COLUMNS) and isinstance(val, str)
            extra[key] = json.loads(val) if json_text and val[:1] in '["{' else val
    prompt = row.get("task_prompt") or row.get("prompt")
    if not isinstance(prompt, str):
        raise DataError(f"{row.get('task_id', '?')}: prompt must be the task text")
    entry_point = row.get("entry_point") or ""
    if not entry_point and extra.get("test_list"):  # raw MBPP columns: the name is in the asserts
        from patchloop.evals.func.evaluate import mbpp_entry_point

        try:
            entry_point = mbpp_entry_point(extra["test_list"])
        except ValueError as e:
            raise DataError(f"{row.get('task_id', '?')}: {e}") from None
    return FunctionTask(task_id=str(row.get("task_id", "")), prompt=prompt,
                        entry_point=entry_point, test=row.get("test") or "",
                        canonical_solution=row.get("canonical_solution") or "", extra=extra)


def sft_rows(rows: list[dict], fmt: str) -> list[dict]:
    """Prompt/completion pairs from canonical solutions (rows without one are skipped)."""
    out = []
    for r in rows:
        sol = r.get("canonical_solution") or ""
        if not sol.strip():
            continue
        if fmt == "chat":
            completion = [{"role": "assistant", "content": "```python\n" + r["prompt"] + sol + "```"}]
        else:
            completion = sol
        out.append({"prompt": model_prompt(r["prompt"], fmt), "completion": completion})
    if not out:
        raise DataError("no rows with a canonical_solution to fine-tune on (is this the sft split?)")
    return out


def grpo_rows(rows: list[dict], fmt: str) -> list[dict]:
    """Prompts plus the columns the execution reward needs (TRL passes them as kwargs)."""
    out = []
    for r in rows:
        out.append({"prompt": model_prompt(r["prompt"], fmt), "task_prompt": r["prompt"],
                    "task_id": str(r.get("task_id", "")), "entry_point": r.get("entry_point") or "",
                    "test": r.get("test") or "", "level": int(r.get("level") or 0),
                    "family": r.get("family") or "",
                    "cases": r["cases"] if isinstance(r.get("cases"), str) else json.dumps(r.get("cases") or [])})
        for key in OFFICIAL_TEST_COLUMNS:  # MBPP's asserts travel to the reward as columns too
            if key in r:
                out[-1][key] = r[key] if isinstance(r[key], str) else json.dumps(r[key])
    return out
