"""The code an issue names, shown in the opening message before the model's first call.

Small models spend their first steps finding the function an issue is about (listing
directories, viewing the wrong file) and often run out of steps before they edit; the
1.5B model did so on most built-in instances. Agentless-style localisation does that
search without the model: names the issue writes as code (``truncate()``, a name in
backticks) are looked up among the repository's definitions (tree-sitter tags, the same
ones the outline uses) and their whole source is shown with line numbers, as ``view``
shows it, so the first reply can already be an edit. Plain words that happen to name a
definition count for less, and test files come after the code under test. A qualified name
(``CachedMethod.__get__``, a method of ``boltons.cacheutils``) picks the definition inside
that class or module over others of the same name: shown the repository's seven ``__get__``
methods with the wrong one first, the 1.5B model edited that one.

It lives in ``evals`` (pure: files and issue text in, definitions out) because the agent's
opening message and the single-turn repair prompt of ``datagen.repos.repair`` must show a
model the same code, and ``datagen`` may not import the agent.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from patchloop.evals import code_tags as rm
from patchloop.evals.grading import TEST_DIR_NAMES

_CODE_SPAN = re.compile(r"`([^`\n]{1,200})`")
_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}")
STRONG, BLOCK, WEAK = 3, 2, 1  # written as code; inside a fenced block (a traceback, output); a plain word
_FENCED = re.compile(r"```[^\n]*\n(.*?)```", re.S)


def issue_names(issue: str) -> dict[str, int]:
    """Name -> weight: names called or in backticks (``Version.build`` gives both parts)
    weigh most; names inside a fenced block (a traceback or test output names whatever the
    failure passed through) less; plain words least, and they are only kept when a definition
    has that name."""
    names = {w: WEAK for w in _WORD.findall(issue)}
    for block in _FENCED.findall(issue):
        names.update({w: BLOCK for w in _IDENT.findall(block) if len(w) > 1})
    prose = _FENCED.sub(" ", issue)
    for span in _CODE_SPAN.findall(prose):
        names.update({w: STRONG for w in _IDENT.findall(span) if len(w) > 1})
    names.update({w: STRONG for w in _CALL.findall(prose)})
    return names


def qualified_names(issue: str) -> tuple[dict[str, set[str]], set[str]]:
    """From code in the issue: name -> the qualifiers written before it (```CachedMethod.__get__```
    gives ``__get__ -> {"CachedMethod"}``, ```boltons.cacheutils.LRU``` ``LRU -> {"boltons.cacheutils"}``),
    and the names also written alone (a standalone name in code, or called)."""
    spans = _CODE_SPAN.findall(_FENCED.sub(" ", issue)) + _FENCED.findall(issue)
    quals: dict[str, set[str]] = {}
    bare: set[str] = set()
    for span in spans:
        for m in re.finditer(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", span):
            parts = m.group(0).split(".")
            if len(parts) == 1:
                bare.add(parts[0])
            for i in range(1, len(parts)):
                quals.setdefault(parts[i], set()).add(".".join(parts[:i]))
    bare |= {n for n in _CALL.findall(_CODE_SPAN.sub(" ", issue)) if n not in quals}
    return quals, bare


def _key(tag: rm.Tag) -> tuple:
    return tag.path, tag.line, tag.end, tag.name


def _qualifier_match(tag: rm.Tag, qualifiers: set[str], enclosing: dict[tuple, set[str]]) -> bool:
    """The tag sits inside a definition, or in a module, that the issue wrote before its name."""
    module = ".".join(PurePosixPath(tag.path).with_suffix("").parts)
    around = enclosing.get(_key(tag), set())
    return any(q.rsplit(".", 1)[-1] in around or module == q or module.endswith("." + q) for q in qualifiers)


def _enclosing(candidates: list[rm.Tag], defs: list[rm.Tag]) -> dict[tuple, set[str]]:
    """Each candidate's key -> the names of the definitions of ``defs`` around it (its class,
    its function); only the few candidates are looked at, not every definition of the repository."""
    by_path: dict[str, list[rm.Tag]] = {}
    for t in defs:
        by_path.setdefault(t.path, []).append(t)
    return {_key(t): {o.name for o in by_path[t.path] if o.line <= t.line and t.end <= o.end
                      and (o.line, o.end) != (t.line, t.end)} for t in candidates}


def is_test_path(path: str) -> bool:
    """A test file by where it lives (a test/tests/testing directory) or its name."""
    p = PurePosixPath(path)
    return any(part in TEST_DIR_NAMES for part in p.parts[:-1]) or p.name.startswith("test_") \
        or p.stem.endswith("_test")


def ranked_definitions(files: dict[str, str], issue: str, tags_of=rm.file_tags) -> list[rm.Tag]:
    """Definitions the issue names, best first: weight, then code before tests, then the
    shorter span (a method before the class around it)."""
    names = issue_names(issue)
    quals, bare = qualified_names(issue)
    all_defs = [t for p, s in sorted(files.items()) for t in tags_of(p, s) if t.kind == "def" and t.end > t.line]
    # a plain word that names a test helper (`fails`, `test`) is noise, not a lead
    defs = [t for t in all_defs if t.name in names and not (names[t.name] == WEAK and is_test_path(t.path))]
    enclosing = _enclosing([t for t in defs if t.name in quals], all_defs)
    matched = {_key(t): t.name for t in defs if t.name in quals and _qualifier_match(t, quals[t.name], enclosing)}
    # `CachedMethod.__get__` names one `__get__`: the others go, where the qualified one was found
    # and the issue never writes the name bare
    found = set(matched.values())
    defs = [t for t in defs if _key(t) in matched or t.name not in found or t.name in bare]
    if matched:  # `CachedMethod` only qualifies the method: its whole class would bury the method
        only_qualifiers = {part for q in set().union(*quals.values()) for part in q.split(".")} - bare - set(quals)
        defs = [t for t in defs if t.name not in only_qualifiers]
    return sorted(defs, key=lambda t: (-names[t.name], _key(t) not in matched, is_test_path(t.path), t.end - t.line,
                                       t.path, t.line))


def focus_definitions(files: dict[str, str], issue: str, budget_tokens: int,
                      tags_of=rm.file_tags) -> tuple[list[rm.Tag], bool]:
    """The definitions :func:`focus_block` shows, and whether the one shown is cut (the best
    definition alone did not fit): the repair prompt records which code it showed."""
    if budget_tokens <= 0:
        return [], False
    left = budget_tokens * 3
    chosen: list[rm.Tag] = []
    for tag in ranked_definitions(files, issue, tags_of):
        if any(_inside(tag, c) for c in chosen):
            continue
        trial = [c for c in chosen if not _inside(c, tag)] + [tag]
        if sum(len(_render(files, c)) for c in trial) <= left:
            chosen = trial
        elif not chosen:
            return [tag], True
    return chosen, False


def focus_block(files: dict[str, str], issue: str, budget_tokens: int, tags_of=rm.file_tags) -> str:
    """The named definitions' source within ``budget_tokens`` (3 characters a token, the
    agent's estimate), best first and each line once: a definition inside one already
    shown is skipped, one around those shown replaces them. "" when the issue names
    nothing the repository defines or the budget is 0. ``tags_of``: as in ``repomap.repo_map``."""
    chosen, cut = focus_definitions(files, issue, budget_tokens, tags_of)
    if cut:
        return _render(files, chosen[0], limit=budget_tokens * 3)
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
