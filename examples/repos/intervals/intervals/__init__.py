"""Closed integer intervals: merging, gaps, coverage."""

from intervals.core import Interval, gaps, merge, total_length

__all__ = ["Interval", "gaps", "merge", "total_length"]
