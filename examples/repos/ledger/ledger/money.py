"""Decimal money strings <-> integer cents (floats never touch money)."""

import re

_AMOUNT = re.compile(r"^(-?)(\d+)(?:\.(\d{1,2}))?$")


def to_cents(amount: str) -> int:
    """``"12.5"`` -> 1250, ``"-0.05"`` -> -5. Raises ``ValueError`` on anything else."""
    m = _AMOUNT.match(amount.strip())
    if not m:
        raise ValueError(f"not an amount: {amount!r}")
    sign, whole, frac = m.groups()
    cents = int(sign + whole) * 100 + int((frac or "0").ljust(2, "0"))
    return cents


def format_cents(cents: int) -> str:
    """1250 -> ``"12.50"``; negative amounts get a leading minus."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
