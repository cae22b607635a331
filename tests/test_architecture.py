"""The package boundaries of DESIGN.md, checked on the source: dependencies point one way.

If this fails, a change needs an arrow the other way; the design is wrong or the change is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "patchloop"

# package -> the patchloop packages it may import (itself always allowed).
ALLOWED = {
    "types": set(),
    "sandbox": {"types"},
    "llm": {"types"},
    "evals": {"types", "sandbox"},
    "datagen": {"types", "sandbox", "evals", "llm"},
    "agent": {"types", "sandbox", "llm", "evals"},
    "rl": {"types", "sandbox", "llm", "evals", "agent", "datagen"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "patchloop" and len(parts) > 1:
                found.add(parts[1])
    return found


def _package_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_design_allows(package):
    files = [ROOT / "types.py"] if package == "types" else sorted((ROOT / package).rglob("*.py"))
    assert files, f"package {package} has no modules"
    bad = []
    for f in files:
        for dep in _imports(f) - ALLOWED[package] - {package}:
            bad.append(f"{f.relative_to(ROOT.parent)} imports patchloop.{dep}")
    assert not bad, "boundary crossed:\n" + "\n".join(bad)


def test_the_checker_sees_a_forbidden_import(tmp_path):
    probe = tmp_path / "m.py"
    probe.write_text("from patchloop.agent import graph\nimport patchloop.rl.grpo\n")
    assert _imports(probe) == {"agent", "rl"}
