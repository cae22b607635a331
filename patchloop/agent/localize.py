"""The code an issue names, shown in the opening message before the model's first call.

Small models spend their first steps finding the function an issue is about (listing
directories, viewing the wrong file) and often run out of steps before they edit; the
1.5B model did so on most built-in instances. Agentless-style localisation does that
search without the model: names the issue writes as code (``truncate()``, a name in
backticks) are looked up among the repository's definitions (tree-sitter tags, the same
ones the outline uses) and their whole source is shown with line numbers, as ``view``
shows it, so the first reply can already be an edit. Plain words that happen to name a
definition count for less, and test files come after the code under test.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from patchloop.agent import repomap as rm

_CODE_SPAN = re.compile(r"`([^`\n]{1,200})`")
_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}")
STRONG, WEAK = 3, 1  # a name written as code; a plain word that names a definition


def issue_names(issue: str) -> dict[str, int]:
    """Name -> weight: names called or in backticks (``Version.build`` gives both parts)
    weigh more than plain words, which are only kept when a definition has that name."""
    names = {w: WEAK for w in _WORD.findall(issue)}
    spans = _CODE_SPAN.findall(issue) + re.findall(r"```[^\n]*\n(.*?)```", issue, re.S)
    for span in spans:
        names.update({w: STRONG for w in _IDENT.findall(span) if len(w) > 1})
    names.update({w: STRONG for w in _CALL.findall(issue)})
    return names


def _is_test(path: str) -> bool:
    p = PurePosixPath(path)
    return any(part in ("test", "tests", "testing") for part in p.parts[:-1]) or p.name.startswith("test_") \
        or p.stem.endswith("_test")


def ranked_definitions(files: dict[str, str], issue: str, tags_of=rm.file_tags) -> list[rm.Tag]:
    """Definitions the issue names, best first: weight, then code before tests, then the
    shorter span (a method before the class around it)."""
    names = issue_names(issue)
    defs = [t for p, s in sorted(files.items()) for t in tags_of(p, s)
            if t.kind == "def" and t.name in names and t.end > t.line]
    return sorted(defs, key=lambda t: (-names[t.name], _is_test(t.path), t.end - t.line, t.path, t.line))


def focus_block(files: dict[str, str], issue: str, budget_tokens: int, tags_of=rm.file_tags) -> str:
    """The named definitions' source within ``budget_tokens`` (3 characters a token, the
    agent's estimate), best first and each line once: a definition inside one already
    shown is skipped, one around those shown replaces them. "" when the issue names
    nothing the repository defines or the budget is 0. ``tags_of``: as in ``repomap.repo_map``."""
    if budget_tokens <= 0:
        return ""
    left = budget_tokens * 3
    chosen: list[rm.Tag] = []
    for tag in ranked_definitions(files, issue, tags_of):
        if any(_inside(tag, c) for c in chosen):
            continue
        trial = [c for c in chosen if not _inside(c, tag)] + [tag]
        if sum(len(_render(files, c)) for c in trial) <= left:
            chosen = trial
        elif not chosen:
            return _render(files, tag, limit=left)
    return "\n\n".join(_render(files, c) for c in chosen)


def _inside(a: rm.Tag, b: rm.Tag) -> bool:
    return a.path == b.path and b.line <= a.line and a.end <= b.end


def _render(files: dict[str, str], tag: rm.Tag, limit: int | None = None) -> str:
    """One definition as ``view`` shows lines; cut at ``limit`` characters with a pointer."""
    lines = files[tag.path].splitlines()[tag.line:tag.end + 1]
    body = "\n".join(f"{tag.line + 1 + i:>6}\t{line}" for i, line in enumerate(lines))
    head = f"{tag.path}, lines {tag.line + 1}-{tag.end + 1}:"
    text = f"{head}\n{body}"
    if limit is not None and len(text) > limit:
        text = text[:max(len(head), limit)].rsplit("\n", 1)[0] + \
            f"\n[cut to fit; view {tag.path} start={tag.line + 1} for the rest]"
    return text
