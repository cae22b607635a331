"""Edits written without the file's indentation, put at the indentation they were meant for.

Small models copy ``old`` from the shown code without its leading spaces and write ``new`` as
if the block started at column 0. Seen with the 1.5B model on a boltons task: ``old`` was
``if obj is not None:`` (found mid-line, after eight spaces) and ``new`` added a line indented
by four, so the file would not parse and the edit was refused on every step. Aider re-indents
such edits; so does this, in the two cases where the meaning is not in doubt:

- ``old`` is one line that starts at a line's indentation and ``new`` has several lines: the
  later lines of ``new`` get that indentation in front;
- ``old`` does not occur as written, but its lines do occur once with the same extra
  indentation in front of each: the match is that block and ``new`` gets the same indentation.

The caller still refuses an edit whose result does not parse.
"""

from __future__ import annotations

import re


def _shift(block: str, prefix: str, skip_first: bool) -> str:
    lines = block.split("\n")
    return "\n".join(ln if (i == 0 and skip_first) or not ln.strip() else prefix + ln for i, ln in enumerate(lines))


def line_indent(text: str, start: int) -> str | None:
    """The indentation before ``start`` when only whitespace precedes it on its line, else None."""
    before = text[text.rfind("\n", 0, start) + 1: start]
    return before if before and not before.strip() else None


def reindent_one_line(text: str, old: str, new: str) -> str | None:
    """``new`` with its later lines indented like the line where one-line ``old`` starts, or
    None where that does not apply (``old`` spans lines, ``new`` is one line, no indentation)."""
    if "\n" in old or "\n" not in new or text.count(old) != 1:
        return None
    prefix = line_indent(text, text.index(old))
    return _shift(new, prefix, skip_first=True) if prefix else None


def indented_match(text: str, old: str, new: str) -> tuple[str, str] | None:
    """``(old, new)`` as they occur in ``text`` when ``old`` matches only with a uniform extra
    indentation on each of its lines (once in the file), else None."""
    lines = old.split("\n")
    if len(lines) < 2 or not lines[0].strip():
        return None
    pattern = r"(?m)^([ \t]+)" + re.escape(lines[0]) + "".join(
        r"\n\1" + re.escape(ln) if ln.strip() else r"\n[ \t]*" for ln in lines[1:])
    found = list(re.finditer(pattern, text))
    if len(found) != 1:
        return None
    prefix = found[0].group(1)
    return found[0].group(0)[len(prefix):], _shift(new, prefix, skip_first=True)
