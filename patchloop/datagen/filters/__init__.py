"""Cleaning, as code corpora are cleaned: dedup, decontamination, licence, PII, data cards.

Each filter takes rows (plain dicts, one task or seed each) and returns what it kept plus a
record of what it removed and why, so a data card can state every count.
"""
