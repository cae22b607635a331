"""Semantic versions (https://semver.org): ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import total_ordering

_CORE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple = ()
    build: str = field(default="", compare=False)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(str(p) for p in self.pre)
        if self.build:
            text += "+" + self.build
        return text

    def __lt__(self, other: "Version") -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        if (self.major, self.minor, self.patch) != (other.major, other.minor, other.patch):
            return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)
        if not self.pre or not other.pre:
            # a pre-release sorts before the release it leads to
            return not self.pre and bool(other.pre)
        return _pre_key(self.pre) < _pre_key(other.pre)


def _pre_key(pre: tuple) -> tuple:
    # numeric identifiers sort before alphanumeric ones, and numerically among themselves
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in pre)


def parse(text: str) -> Version:
    """Parse ``text`` or raise ``ValueError`` naming it."""
    m = _CORE.match(text.strip())
    if not m:
        raise ValueError(f"not a semantic version: {text!r}")
    pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split(".")) if m.group(4) else ()
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)
