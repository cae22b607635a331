"""The package boundaries of DESIGN.md, checked on the source: dependencies point one way.

Every import counts: absolute (``import patchloop.rl.grpo``, ``from patchloop import agent``)
and relative (``from ..agent import x``, ``from . import y``), the latter resolved against the
importing module's own package. ``cli.py`` and ``commands/`` sit on top and may import any
package; no package may import them back.

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
TOP = {"cli", "commands", "__main__"}  # the front end: may import everything, imported by nothing below


def _module_name(path: Path, root: Path) -> list[str]:
    """``patchloop/evals/passk.py`` -> ``["patchloop", "evals", "passk"]`` (a package's
    ``__init__.py`` is the package itself)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _absolute(node: ast.ImportFrom, module: list[str], is_package: bool) -> str:
    """The absolute module a ``from`` import names, relative levels resolved as Python does."""
    if node.level == 0:
        return node.module or ""
    base = module if is_package else module[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """The first-level patchloop packages (or top-level modules) that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module, is_package = _module_name(path, root), path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, is_package)
            # `from patchloop import agent` / `from .. import agent`: the names are the modules
            names = [f"{target}.{a.name}" for a in node.names] if target == root.name else [target]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == root.name and len(parts) > 1:
                found.add(parts[1])
    return found


def _package_files(package: str) -> list[Path]:
    return [ROOT / "types.py"] if package == "types" else sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_design_allows(package):
    files = _package_files(package)
    assert files, f"package {package} has no modules"
    bad = []
    for f in files:
        for dep in _imports(f) - ALLOWED[package] - {package}:
            bad.append(f"{f.relative_to(ROOT.parent)} imports patchloop.{dep}")
    assert not bad, "boundary crossed:\n" + "\n".join(bad)


def test_every_module_belongs_to_a_checked_package_or_the_front_end():
    known = set(ALLOWED) | TOP | {"__init__"}
    strays = [p.name for p in ROOT.iterdir() if (p.suffix == ".py" or (p / "__init__.py").exists())
              and p.name.removesuffix(".py") not in known]
    assert not strays, f"modules no rule covers (add them to ALLOWED or TOP): {strays}"


def test_the_front_end_parses_arguments_and_is_imported_by_nobody():
    front = [ROOT / "cli.py", ROOT / "__main__.py", *sorted((ROOT / "commands").rglob("*.py"))]
    assert all(f.exists() for f in front)
    known = set(ALLOWED) | TOP
    for f in front:  # the front end may import any package, but only packages that exist
        assert _imports(f) <= known, f"{f.name} imports {_imports(f) - known}"
    bad = [f"{f.relative_to(ROOT.parent)} imports patchloop.{dep}"
           for package in ALLOWED for f in _package_files(package) for dep in _imports(f) & TOP]
    bad += [f"patchloop/__init__.py imports patchloop.{dep}" for dep in _imports(ROOT / "__init__.py") & TOP]
    assert not bad, "a package reaches up into the front end:\n" + "\n".join(bad)


def test_the_checker_sees_a_forbidden_import(tmp_path):
    probe = tmp_path / "patchloop" / "m.py"
    probe.parent.mkdir()
    probe.write_text("from patchloop.agent import graph\nimport patchloop.rl.grpo\nfrom patchloop import cli\n")
    assert _imports(probe, probe.parent) == {"agent", "rl", "cli"}


@pytest.mark.parametrize(("where", "source", "expected"), [
    ("evals/func.py", "from ..agent import graph\n", {"agent"}),
    ("evals/func.py", "from .. import rl\n", {"rl"}),
    ("evals/func.py", "from . import passk\n", {"evals"}),
    ("evals/__init__.py", "from . import func\n", {"evals"}),
    ("evals/__init__.py", "from ..commands.evaluate import func\n", {"commands"}),
    ("rl/agentic/env.py", "from ...agent.tools import view\n", {"agent"}),
    ("rl/agentic/env.py", "from .. import grpo\n", {"rl"}),
    ("evals/func.py", "from .passk import pass_at_k\n", {"evals"}),
])
def test_the_checker_resolves_relative_imports(tmp_path, where, source, expected):
    root = tmp_path / "patchloop"
    probe = root / where
    probe.parent.mkdir(parents=True)
    probe.write_text(source)
    assert _imports(probe, root) == expected


def test_a_forbidden_relative_import_is_a_boundary_crossing(tmp_path):
    root = tmp_path / "patchloop"
    (root / "evals").mkdir(parents=True)
    (root / "evals" / "bad.py").write_text("from ..agent import graph\nfrom ..cli import main\n")
    assert _imports(root / "evals" / "bad.py", root) - ALLOWED["evals"] - {"evals"} == {"agent", "cli"}
