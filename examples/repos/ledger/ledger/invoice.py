"""Invoices: lines of (description, cents), totals, and even splits."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.money import format_cents, to_cents


@dataclass
class Invoice:
    lines: list[tuple[str, int]] = field(default_factory=list)

    def add(self, description: str, amount: str, qty: int = 1) -> None:
        """Add a line; ``amount`` is a decimal string, negative for refunds and discounts."""
        self.lines.append((description, to_cents(amount) * qty))

    def total(self) -> int:
        return sum(cents for _, cents in self.lines if cents > 0)

    def render(self) -> str:
        rows = [f"{desc:<20}{format_cents(cents):>10}" for desc, cents in self.lines]
        rows.append(f"{'TOTAL':<20}{format_cents(self.total()):>10}")
        return "\n".join(rows)


def split_evenly(total: int, parts: int) -> list[int]:
    """Split ``total`` cents into ``parts`` shares differing by at most one cent,
    larger shares first, summing to ``total``."""
    if parts <= 0:
        raise ValueError("parts must be positive")
    base, extra = divmod(total, parts)
    return [base + 1 if i < extra else base for i in range(parts)]
