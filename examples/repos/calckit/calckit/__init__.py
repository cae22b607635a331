"""Small numeric helpers (an example repository for bug injection)."""

from calckit.stats import clamp, mean, median, running_total
from calckit.ranges import chunks, merge_spans

__all__ = ["chunks", "clamp", "mean", "median", "merge_spans", "running_total"]
