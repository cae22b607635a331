"""SelfCodeAlign's seeds: documented top-level functions, cut out of seed files with tree-sitter.

A seed function is a top-level ``def`` (decorated or not) whose body opens with a docstring,
between ``min_lines`` and ``max_lines`` long: short enough to show a teacher, long enough to
hold a concept. tree-sitter reads files ``ast`` would reject (other Python versions, partial
code), which is what real package sources are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from patchloop.datagen.filters.dedup import exact_key
from patchloop.datagen.instruct.common import run_items
from patchloop.datagen.instruct.stage import Outcome, Stage
from patchloop.types import read_jsonl

STAGE = "seed-functions"


class SeedFunctionsConfig(BaseModel):
    min_lines: int = Field(3, description="Shortest function kept, in lines.")
    max_lines: int = Field(60, description="Longest function kept, in lines.")


def _parser():
    import tree_sitter as ts
    import tree_sitter_python

    return ts.Parser(ts.Language(tree_sitter_python.language()))


def _has_docstring(fn) -> bool:
    body = fn.child_by_field_name("body")
    first = body.named_children[0] if body is not None and body.named_children else None
    return (first is not None and first.type == "expression_statement" and first.named_children
            and first.named_children[0].type == "string")


def documented_functions(source: str, cfg: SeedFunctionsConfig | None = None) -> Iterator[tuple[str, str]]:
    """(name, code) of each documented top-level function of ``source``."""
    cfg = cfg or SeedFunctionsConfig()
    data = source.encode("utf-8")
    tree = _parser().parse(data)
    for node in tree.root_node.named_children:
        fn = node
        if node.type == "decorated_definition":
            fn = node.child_by_field_name("definition")
        if fn is None or fn.type != "function_definition" or not _has_docstring(fn):
            continue
        lines = node.end_point[0] - node.start_point[0] + 1
        if not cfg.min_lines <= lines <= cfg.max_lines or node.has_error:
            continue
        name = fn.child_by_field_name("name")
        yield data[name.start_byte:name.end_byte].decode(), data[node.start_byte:node.end_byte].decode()


def run_seed_functions(seeds: Path, out: Path, cfg: SeedFunctionsConfig, *, progress: bool = True) -> dict:
    """One row per documented function of every seed file (exact copies kept once)."""
    rows = read_jsonl(seeds)
    stage = Stage(out, STAGE, {"config": cfg.model_dump()}, inputs=[seeds])
    seen: set[str] = {exact_key(r["code"]) for r in stage.kept_rows()}

    def process(key: str, row: dict) -> Outcome:
        outcome = Outcome()
        for name, code in documented_functions(str(row.get("text", "")), cfg):
            outcome.counts["generated"] += 1
            k = exact_key(code)
            if k in seen:
                outcome.drop(f"duplicate: {key}:{name}")
                continue
            seen.add(k)
            outcome.rows.append({"id": f"{key}:{name}", "name": name, "code": code,
                                 **{f: row.get(f) for f in ("package", "version", "licence", "path")}})
            outcome.counts["kept"] += 1
        return outcome

    items = [(str(r.get("id") or f"#{i}"), r) for i, r in enumerate(rows)]
    return run_items(stage, items, process, progress=progress)
