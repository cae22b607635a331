"""Split hygiene: exact and n-gram overlap between task splits.

Two tasks are the *same* when their normalised prompts or their solutions match exactly.
A task is *covered* by another split when every word n-gram of its description (the
docstring; signatures are shared by design) occurs somewhere in that split (a near copy stitched from other prompts). Both must be zero between splits.
Tasks that merely share some n-grams (a three-step held-out task starts like a two-step
training task, by design: that is the generalisation being measured) are counted and
reported, not removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from patchloop.types import FunctionTask

_TOKEN = re.compile(r"\w+|[^\w\s]")
_DOC = re.compile(r'"""(.*?)"""', re.DOTALL)


def normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def description(prompt: str) -> str:
    """The docstring of a prompt (what a task asks), without the shared signature."""
    m = _DOC.search(prompt)
    return m.group(1) if m else prompt


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Word n-grams of a prompt's description (the whole description when it is shorter)."""
    toks = _TOKEN.findall(description(text).lower())
    if len(toks) <= n:
        return {tuple(toks)}
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def exact_keys(task: FunctionTask) -> set[str]:
    keys = {"p:" + normalise(task.prompt)}
    sol = task.canonical_solution
    if sol:
        keys.add("s:" + normalise(sol))
    return keys


def covered(task: FunctionTask, union: set[tuple[str, ...]], n: int) -> bool:
    return ngrams(task.prompt, n) <= union


def split_overlap(splits: dict[str, Sequence[FunctionTask]], n: int) -> dict:
    """Figures for every ordered pair of splits (A, B): how many tasks of A are exact
    duplicates of, covered by, or share any n-gram with split B."""
    grams = {name: [ngrams(t.prompt, n) for t in tasks] for name, tasks in splits.items()}
    unions = {name: set().union(*g) if g else set() for name, g in grams.items()}
    keys = {name: set().union(*(exact_keys(t) for t in tasks)) if tasks else set() for name, tasks in splits.items()}
    report: dict = {"ngram_n": n, "pairs": {}}
    for a, tasks in splits.items():
        for b in splits:
            if a == b:
                continue
            exact = sum(bool(exact_keys(t) & keys[b]) for t in tasks)
            cov = sum(g <= unions[b] for g in grams[a])
            shared = sum(bool(g & unions[b]) for g in grams[a])
            report["pairs"][f"{a}->{b}"] = {
                "tasks": len(tasks), "exact": exact, "covered": cov,
                "any_shared_ngram": shared,
                "any_shared_ngram_frac": round(shared / len(tasks), 4) if tasks else 0.0,
            }
    report["clean"] = all(p["exact"] == 0 and p["covered"] == 0 for p in report["pairs"].values())
    return report


def offenders(splits: dict[str, Sequence[FunctionTask]], n: int) -> set[str]:
    """task_ids that are exact duplicates or covered across splits (to drop and replace)."""
    unions = {name: set().union(*(ngrams(t.prompt, n) for t in ts)) if ts else set() for name, ts in splits.items()}
    keys = {name: set().union(*(exact_keys(t) for t in ts)) if ts else set() for name, ts in splits.items()}
    bad: set[str] = set()
    for a, tasks in splits.items():
        for t in tasks:
            for b in splits:
                if b != a and (exact_keys(t) & keys[b] or covered(t, unions[b], n)):
                    bad.add(t.task_id)
    return bad


def all_ids(splits: dict[str, Iterable[FunctionTask]]) -> list[str]:
    return [t.task_id for ts in splits.values() for t in ts]
