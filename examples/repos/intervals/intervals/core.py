"""Operations on closed intervals ``[start, end]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True, order=True)
class Interval:
    start: int
    end: int

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError(f"empty interval [{self.start}, {self.end}]")

    @property
    def length(self) -> int:
        return self.end - self.start

    def overlaps(self, other: "Interval") -> bool:
        return self.start <= other.end and other.start <= self.end


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, pairwise disjoint intervals covering the same points as ``intervals``."""
    merged: list[Interval] = []
    for cur in sorted(intervals):
        if merged and cur.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Interval(last.start, cur.end)
        else:
            merged.append(cur)
    return merged


def total_length(intervals: Iterable[Interval]) -> int:
    """Length of the union of ``intervals``."""
    return sum(iv.length for iv in merge(intervals))


def gaps(intervals: Iterable[Interval], lo: int, hi: int) -> list[Interval]:
    """The parts of ``[lo, hi]`` not covered by ``intervals`` (as closed intervals
    between covered ones)."""
    merged = [iv for iv in merge(intervals) if iv.end >= lo and iv.start <= hi]
    out: list[Interval] = []
    if not merged:
        return out
    cursor = lo
    for iv in merged:
        if iv.start > cursor:
            out.append(Interval(cursor, iv.start))
        cursor = max(cursor, iv.end)
    if cursor < hi:
        out.append(Interval(cursor, hi))
    return out
