"""Dedup as the BigCode pipeline does it: exact copies by a hash of the normalised text, then
near-duplicates by MinHash LSH (``datasketch``) over 5-gram token shingles, 256 permutations,
Jaccard threshold 0.7.

The first row of a group is kept; every removed row names the row it duplicates. An LSH
candidate is confirmed with the MinHash estimate of the Jaccard similarity, so a band collision
between two dissimilar rows removes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from patchloop.datagen.filters.text import TEXT_FIELDS, ngrams, normalise, row_id, row_text, tokens

SHINGLE = 5
NUM_PERM = 256
THRESHOLD = 0.7


@dataclass
class DedupConfig:
    """The BigCode settings by default; ``fields`` says which text of a row is compared."""

    shingle: int = SHINGLE
    num_perm: int = NUM_PERM
    threshold: float = THRESHOLD
    fields: tuple[str, ...] = TEXT_FIELDS
    seed: int = 1


@dataclass
class Removed:
    """One removed row: its id, the kept row it duplicates, how, and the similarity."""

    id: str
    duplicate_of: str
    reason: str  # "exact" or "near"
    jaccard: float = 1.0

    def to_dict(self) -> dict:
        return {"id": self.id, "duplicate_of": self.duplicate_of, "reason": self.reason,
                "jaccard": round(self.jaccard, 3)}


@dataclass
class DedupResult:
    kept: list[dict]
    removed: list[Removed] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        exact = sum(r.reason == "exact" for r in self.removed)
        return {"input": len(self.kept) + len(self.removed), "kept": len(self.kept),
                "exact": exact, "near": len(self.removed) - exact}


def minhash(text: str, cfg: DedupConfig):
    """The MinHash signature of a text's token shingles."""
    from datasketch import MinHash

    m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed)
    for gram in ngrams(tokens(text), cfg.shingle):
        m.update(" ".join(gram).encode("utf-8"))
    return m


def exact_key(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


class NearIndex:
    """Texts indexed for exact and near-duplicate look-ups (the dedup index, and the
    Self-Instruct novelty check with MinHash in place of ROUGE-L)."""

    def __init__(self, cfg: DedupConfig | None = None):
        from datasketch import MinHashLSH

        self.cfg = cfg or DedupConfig()
        self.lsh = MinHashLSH(threshold=self.cfg.threshold, num_perm=self.cfg.num_perm)
        self.exact: dict[str, str] = {}
        self.sigs: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self.sigs)

    def add(self, key: str, text: str) -> None:
        if key in self.sigs:
            return
        self.exact.setdefault(exact_key(text), key)
        self.sigs[key] = m = minhash(text, self.cfg)
        self.lsh.insert(key, m)

    def match(self, text: str) -> tuple[str, str, float] | None:
        """(key of the closest indexed text, "exact" or "near", Jaccard estimate), or None."""
        hit = self.exact.get(exact_key(text))
        if hit is not None:
            return hit, "exact", 1.0
        m = minhash(text, self.cfg)
        best = None
        for cand in self.lsh.query(m):
            j = m.jaccard(self.sigs[cand])
            if j >= self.cfg.threshold and (best is None or j > best[1]):
                best = (cand, j)
        return None if best is None else (best[0], "near", best[1])


def dedup(rows: Sequence[dict], cfg: DedupConfig | None = None, *, against: Iterable[dict] = ()) -> DedupResult:
    """Rows with exact and near duplicates removed, in input order. Rows in ``against`` (an
    existing pool, e.g. tasks already kept) are never removed, but rows duplicating them are."""
    index = NearIndex(cfg)
    for j, row in enumerate(against):
        index.add(f"pool:{row_id(row, j)}", row_text(row, index.cfg.fields))
    result = DedupResult(kept=[])
    for i, row in enumerate(rows):
        rid, text = row_id(row, i), row_text(row, index.cfg.fields)
        hit = index.match(text)
        if hit is not None:
            result.removed.append(Removed(rid, hit[0].split(":", 1)[1], hit[1], hit[2]))
            continue
        index.add(f"row{i}:{rid}", text)
        result.kept.append(row)
    return result
