"""The text a filter looks at: which fields of a row, normalised how, cut into which n-grams."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Fields that carry what a task asks and answers, in every shape datagen writes or reads
# (HumanEval-style tasks, SWE-style instances, teacher records).
TEXT_FIELDS = ("prompt", "instruction", "problem", "problem_statement", "canonical_solution", "solution",
               "response", "patch", "test", "test_patch")

_TOKEN = re.compile(r"\w+|[^\w\s]")


def normalise(text: str) -> str:
    """Whitespace collapsed, case folded: re-indented or re-wrapped copies still match."""
    return " ".join(text.split()).lower()


def row_text(row: dict, fields: Iterable[str] = TEXT_FIELDS) -> str:
    """The fields of ``row`` that exist and are text, joined with blank lines."""
    return "\n\n".join(row[f] for f in fields if isinstance(row.get(f), str) and row[f].strip())


def tokens(text: str) -> list[str]:
    """Words and single punctuation marks, lower-cased (code tokenises well enough this way)."""
    return _TOKEN.findall(text.lower())


def ngrams(toks: list[str], n: int) -> set[tuple[str, ...]]:
    """Token n-grams; a text shorter than ``n`` is one gram (so it can still match)."""
    if len(toks) < n:
        return {tuple(toks)} if toks else set()
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def row_id(row: dict, index: int) -> str:
    """The name a report gives a row: its task or instance id, else its position."""
    for key in ("task_id", "instance_id", "id", "key"):
        if row.get(key) not in (None, ""):
            return str(row[key])
    return f"#{index}"
