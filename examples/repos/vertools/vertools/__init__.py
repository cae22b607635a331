"""Semantic version parsing and ordering."""

from vertools.version import Version, parse

__all__ = ["Version", "parse"]
