"""Money as integer cents, and invoices built from it."""

from ledger.invoice import Invoice, split_evenly
from ledger.money import format_cents, to_cents

__all__ = ["Invoice", "format_cents", "split_evenly", "to_cents"]
