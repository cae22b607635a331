"""Small text helpers: truncation, slugs, word wrapping."""

from textkit.slug import slugify
from textkit.trunc import truncate
from textkit.wrap import wrap

__all__ = ["slugify", "truncate", "wrap"]
