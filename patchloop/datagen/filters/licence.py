"""Licence filter: keep seed code whose package metadata declares a permissive licence.

The licence comes from the package's core metadata (a wheel's ``METADATA``, an sdist's
``PKG-INFO``), in order of trust: ``License-Expression`` (PEP 639, SPDX), then a short
``License`` field that parses as an SPDX expression or names a well-known licence, then the
Trove ``License ::`` classifiers. Expressions are parsed with ``license-expression``: ``A OR B``
is permissive when either side is, ``A AND B`` only when both are, ``A WITH exception`` when
``A`` is. Anything unknown or missing is not permissive: a seed is kept on evidence only.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import HeaderParser

ALLOWED = frozenset({
    "MIT", "MIT-0", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "Apache-2.0", "ISC", "PSF-2.0", "Python-2.0",
    "Unlicense", "Zlib", "CC0-1.0", "BSL-1.0", "UPL-1.0", "HPND", "X11", "MIT-CMU",
})

# Free-text ``License`` values and classifiers seen on PyPI, to SPDX. The "BSD License"
# classifier names the family; both of its common members are on the allow-list.
_ALIASES = {
    "mit": "MIT", "mit license": "MIT", "the mit license": "MIT", "expat": "MIT",
    "bsd": "BSD-3-Clause", "bsd license": "BSD-3-Clause", "new bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause", "3-clause bsd": "BSD-3-Clause", "bsd 3-clause": "BSD-3-Clause",
    "bsd-3": "BSD-3-Clause", "simplified bsd": "BSD-2-Clause", "bsd-2": "BSD-2-Clause",
    "apache": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache 2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0", "apache license, version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache-2": "Apache-2.0",
    "isc": "ISC", "isc license": "ISC", "isc license (iscl)": "ISC",
    "psf": "PSF-2.0", "python software foundation license": "PSF-2.0", "psfl": "PSF-2.0",
    "the unlicense (unlicense)": "Unlicense", "unlicense": "Unlicense", "zlib/libpng license": "Zlib",
    "gpl": "GPL-3.0-or-later", "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
}


@dataclass
class Licence:
    """What a package declares: the SPDX expression, where it was read, and the verdict."""

    spdx: str | None
    source: str  # "License-Expression", "License", "classifier" or "none"
    permissive: bool
    reason: str = ""

    def to_dict(self) -> dict:
        return {"spdx": self.spdx, "source": self.source, "permissive": self.permissive, "reason": self.reason}


def _licensing():
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def parse_spdx(text: str) -> str | None:
    """``text`` as a known SPDX expression (normalised), or None."""
    text = (text or "").strip()
    alias = _ALIASES.get(text.lower().rstrip("."))
    if alias:
        return alias
    if not text or len(text) > 200 or "\n" in text:
        return None
    lic = _licensing()
    try:
        expr = lic.parse(text, validate=False)
    except Exception:  # license-expression raises several unrelated types for bad text
        return None
    if expr is None or lic.unknown_license_keys(expr):
        return None
    return str(expr)


def permissive(expression: str, allowed: frozenset[str] = ALLOWED) -> bool:
    """Whether an SPDX expression lets us use the code under the allow-list."""
    lic = _licensing()
    try:
        expr = lic.parse(expression, validate=False)
    except Exception:
        return False
    return _allowed(expr, lic, allowed)


def _allowed(expr, lic, allowed) -> bool:
    if isinstance(expr, lic.AND):
        return all(_allowed(a, lic, allowed) for a in expr.args)
    if isinstance(expr, lic.OR):
        return any(_allowed(a, lic, allowed) for a in expr.args)
    symbol = getattr(expr, "license_symbol", expr)  # "A WITH exception" -> A
    return getattr(symbol, "key", None) in allowed


def from_metadata(text: str, allowed: frozenset[str] = ALLOWED) -> Licence:
    """The licence a core-metadata document (METADATA / PKG-INFO) declares."""
    msg = HeaderParser().parsestr(text or "")
    candidates = [("License-Expression", msg.get("License-Expression")), ("License", msg.get("License"))]
    classifiers = [c.split("::")[-1].strip() for c in msg.get_all("Classifier") or [] if c.startswith("License ::")]
    candidates += [("classifier", c) for c in classifiers]
    for source, value in candidates:
        if not value or not value.strip() or value.strip().upper() == "UNKNOWN":
            continue
        spdx = parse_spdx(value)
        if spdx is None:
            continue
        ok = permissive(spdx, allowed)
        return Licence(spdx, source, ok, "" if ok else f"{spdx} is not on the allow-list")
    return Licence(None, "none", False, "no licence the metadata declares could be read as SPDX")
