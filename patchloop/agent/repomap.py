"""Syntax checks for `edit` and Aider-style repository maps, on ``evals.code_tags``' tree-sitter parsing.

Grammars come from per-language wheels that ship compiled grammars and their tags queries
(no download at first use, so this works offline). Covered: Python, JavaScript, TypeScript
(.ts and .tsx), Go, Rust. Other files are listed by name only.

The map: tags (definitions and references) per file -> a graph where file A points at
file B when A references a name B defines -> PageRank personalised towards files and
names that the query (the issue text) mentions -> the best-ranked definitions, one
signature line each, until the token budget is spent.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import PurePosixPath

# Parsing and tags live in evals (localisation there uses them); the map and syntax checks are the agent's.
from patchloop.evals.code_tags import GRAMMARS, LANGUAGE_OF, LANGUAGES, Tag, file_tags, parse

__all__ = ["GRAMMARS", "LANGUAGES", "Tag", "file_tags", "languages_of", "pagerank", "parse", "repo_map",
           "syntax_error"]


def languages_of(paths) -> list[str]:
    """The covered languages the given files are written in (what a map of them shows)."""
    found = {LANGUAGE_OF.get(PurePosixPath(p).suffix) for p in paths}
    return [lang for lang in LANGUAGES if lang in found]


def _python_error(path: str, source: str) -> str | None:
    """What tree-sitter lets through in Python: bad indentation (a method body at class
    level, seen from the 1.5B model) parses as a tree without error nodes. ``ast.parse``
    only parses, never runs. ``edit`` compares before and after, so syntax newer than this
    interpreter (which fails both) is never blamed on an edit; ``create`` only warns."""
    if not path.endswith(".py"):
        return None
    try:
        ast.parse(source, filename=path)
    except SyntaxError as e:
        return f"line {e.lineno}: {e.msg}"
    except (ValueError, RecursionError, MemoryError):  # NUL bytes, absurd nesting
        return None
    return None


def syntax_error(path: str, source: str) -> str | None:
    """'line L, column C: unexpected/missing X' for the first error node, or None when the
    file parses (or its language is not covered)."""
    tree = parse(path, source)
    if tree is None:
        return None
    if not tree.root_node.has_error:
        return _python_error(path, source)
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, col = node.start_point
            what = f"missing {node.type}" if node.is_missing else "unexpected syntax"
            line = source.splitlines()[row] if row < len(source.splitlines()) else ""
            return f"line {row + 1}, column {col + 1}: {what}: {line.strip()[:120]!r}"
        stack.extend(reversed([c for c in node.children if c.has_error or c.is_missing]))
    return "the file does not parse"


def pagerank(edges: dict[str, dict[str, float]], nodes: list[str], personal: dict[str, float],
             damping: float = 0.85, iters: int = 50) -> dict[str, float]:
    """Weighted personalised PageRank by power iteration (graphs here are small)."""
    if not nodes:
        return {}
    total = sum(personal.get(n, 0.0) for n in nodes)
    teleport = {n: (personal.get(n, 0.0) / total if total else 1 / len(nodes)) for n in nodes}
    rank = dict(teleport)
    out_w = {n: sum(edges.get(n, {}).values()) for n in nodes}
    for _ in range(iters):
        nxt = {n: (1 - damping) * teleport[n] for n in nodes}
        dangling = sum(rank[n] for n in nodes if not out_w[n])
        for n in nodes:
            nxt[n] += damping * dangling * teleport[n]
            for m, w in edges.get(n, {}).items():
                nxt[m] += damping * rank[n] * w / out_w[n]
        rank = nxt
    return rank


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def repo_map(files: dict[str, str], query: str = "", budget_tokens: int = 1500,
             tags_of: Callable[[str, str], list[Tag]] = file_tags) -> str:
    """An outline of ``files`` (path -> source) ranked by relevance to ``query``; ``tags_of``
    is ``file_tags`` or a cache of it."""
    tags = [t for p, s in sorted(files.items()) for t in tags_of(p, s)]
    defs: dict[str, set[str]] = defaultdict(set)
    for t in tags:
        if t.kind == "def":
            defs[t.name].add(t.path)
    words = set(_WORD.findall(query))
    edges: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for t in tags:
        if t.kind == "ref":
            for target in defs.get(t.name, ()):
                if target != t.path:
                    # names the issue mentions are the edges worth following
                    edges[t.path][target] += 10.0 if t.name in words else 1.0
    personal = {}
    for p in files:
        stem = PurePosixPath(p).stem
        mentioned = p in query or stem in words
        hits = sum(1 for n, ps in defs.items() if p in ps and n in words)
        personal[p] = 1.0 + 20.0 * mentioned + 5.0 * hits
    rank = pagerank(edges, sorted(files), personal)
    def score(t: Tag) -> float:
        # a definition the issue names outranks the helpers everything depends on
        return rank.get(t.path, 0) * (10.0 if t.name in words else 1.0)

    scored = sorted((t for t in tags if t.kind == "def"), key=lambda t: (-score(t), t.path, t.line))
    chosen: dict[str, list[Tag]] = defaultdict(list)
    used = 0
    seen: set[tuple[str, int]] = set()
    for t in scored:
        if (t.path, t.line) in seen:
            continue
        seen.add((t.path, t.line))
        cost = len(t.signature) // 4 + 2 + (0 if t.path in chosen else len(t.path) // 4 + 1)
        if used + cost > budget_tokens:
            break
        chosen[t.path].append(t)
        used += cost
    parts = []
    for path in sorted(chosen, key=lambda p: -max(score(t) for t in chosen[p])):
        parts.append(f"{path}:")
        parts += [f"  {t.line + 1:>5}| {t.signature}" for t in sorted(chosen[path], key=lambda t: t.line)]
    others = sorted(p for p in files if p not in chosen)
    if others:
        parts.append(f"({len(others)} more files not shown: {', '.join(others[:15])}"
                     f"{', ...' if len(others) > 15 else ''})")
    return "\n".join(parts) if parts else "(no source files in a covered language)"
