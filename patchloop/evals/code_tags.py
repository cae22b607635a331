"""Tree-sitter parsing and tags (definitions and references per file), shared below the agent.

The agent's repository map and ``evals.localize`` (the code an issue names, shown to the
agent and in the single-turn repair prompt) both read these tags; they live in ``evals`` so
``datagen`` can show a model the same code the agent sees without importing the agent.
Grammars come from per-language wheels that ship compiled grammars and their tags queries
(no download at first use, so this works offline).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath

# extension -> (grammar module, language function)
GRAMMARS = {
    ".py": ("tree_sitter_python", "language"),
    ".js": ("tree_sitter_javascript", "language"),
    ".jsx": ("tree_sitter_javascript", "language"),
    ".mjs": ("tree_sitter_javascript", "language"),
    ".ts": ("tree_sitter_typescript", "language_typescript"),
    ".tsx": ("tree_sitter_typescript", "language_tsx"),
    ".go": ("tree_sitter_go", "language"),
    ".rs": ("tree_sitter_rust", "language"),
}
LANGUAGES = ("python", "javascript", "typescript", "go", "rust")
LANGUAGE_OF = {".py": "python", ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript",
               ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust"}


@cache
def _language(ext: str):
    import tree_sitter as ts

    module, func = GRAMMARS[ext]
    return ts.Language(getattr(importlib.import_module(module), func)())


@cache
def _tags_query(ext: str):
    import tree_sitter as ts

    module, _ = GRAMMARS[ext]
    text = importlib.import_module(module).TAGS_QUERY
    if module == "tree_sitter_typescript":
        # TypeScript's tags only add TS constructs; functions and classes come from JS's.
        text = importlib.import_module("tree_sitter_javascript").TAGS_QUERY + "\n" + text
    return ts.Query(_language(ext), text)


def parse(path: str, source: str):
    """A tree-sitter tree for a supported file, else None."""
    import tree_sitter as ts

    ext = PurePosixPath(path).suffix
    if ext not in GRAMMARS:
        return None
    return ts.Parser(_language(ext)).parse(source.encode("utf-8"))


@dataclass
class Tag:
    path: str
    name: str
    kind: str  # "def" or "ref"
    line: int  # 0-based
    signature: str
    end: int = -1  # 0-based last line of a definition's whole node; -1 for references


def file_tags(path: str, source: str) -> list[Tag]:
    """Definitions and references in one file, from the grammar's own tags query."""
    import tree_sitter as ts

    tree = parse(path, source)
    if tree is None:
        return []
    lines = source.splitlines()
    matches = ts.QueryCursor(_tags_query(PurePosixPath(path).suffix)).matches(tree.root_node)
    tags = []
    for _, caps in matches:
        # Two conventions exist: `@name` + `@definition.X`, or `@name.definition.X`.
        keys = " ".join(caps)
        if "definition" not in keys and "reference" not in keys:
            continue
        kind = "def" if "definition" in keys else "ref"
        names = caps.get("name") or next((v for k, v in caps.items() if k.startswith("name.")), [])
        # the node the definition capture spans (the whole function or class), for its last line
        whole = next((v[0] for k, v in caps.items() if k.startswith("definition") and v), None)
        for node in names:
            row = node.start_point[0]
            sig = lines[row].strip() if row < len(lines) else ""
            end = whole.end_point[0] if kind == "def" and whole is not None else -1
            tags.append(Tag(path, node.text.decode("utf-8", "replace"), kind, row, sig[:160], end))
    return tags
