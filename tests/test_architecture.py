"""The package boundaries of DESIGN.md, checked on the source: dependencies point one way.

Every import counts: absolute (``import patchloop.rl.grpo``, ``from patchloop import agent``)
and relative (``from ..agent import x``, ``from . import y``), the latter resolved against the
importing module's own package. ``cli.py`` and ``commands/`` sit on top and may import any
package; no package may import them back.

Beside the arrows, DESIGN's "must not" column: the Docker SDK only behind ``sandbox/engine.py``;
no torch/transformers/trl/peft in ``agent/``, ``datagen/`` or ``evals/``; no heavy library loaded
just by importing a module (so ``patchloop --help`` stays instant); no import loop between the
modules of one package; and the front end importing its commands plainly, so every arrow shows.

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
    "evals": {"types", "sandbox", "llm"},  # llm's generation interface only (test below)
    "datagen": {"types", "sandbox", "evals", "llm"},
    "agent": {"types", "sandbox", "llm", "evals"},
    "rl": {"types", "sandbox", "llm", "evals", "agent", "datagen"},
    # the demo sits on top, beside the front end: it may use every package, none may use it
    "demo": {"types", "sandbox", "llm", "evals", "agent", "datagen", "rl"},
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


def test_evals_reaches_llm_only_through_the_generation_interface():
    """DESIGN: evals may sample a checkpoint through llm's one generation interface, and
    nothing else of llm (no chat clients, no serving internals)."""
    offenders = []
    for path in (ROOT / "evals").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("patchloop.llm"):
                if not (node.module or "").startswith("patchloop.llm.generation"):
                    offenders.append(f"{path.relative_to(ROOT)}: {node.module}")
    assert not offenders, offenders


# ---------------------------------------------------------------- DESIGN's "must not" column

HEAVY = {"torch", "transformers", "trl", "peft", "ray", "vllm", "datasets"}  # load only when used
TRAINING = {"torch", "transformers", "trl", "peft"}  # never imported by these packages at all
NO_TRAINING = ("agent", "datagen", "evals")
# Modules whose only job is to subclass a class of a heavy library: the class statement needs the
# base at import time. Each is imported lazily by its one user (``rl`` trainers, themselves loaded
# only when a training command runs), which the start-up test below holds to.
HEAVY_EDGES = {
    "rl/callbacks.py": "TrainerCallback subclasses (transformers calls every event on them)",
    "rl/agentic/dpo_trainer.py": "DPOTrainer and DataCollatorForPreference subclasses (TRL)",
    "rl/step_spinner.py": "a TrainerCallback subclass (the step spinner)",
}


def _all_files() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def _external_imports(path: Path, *, module_level_only: bool = False) -> list[tuple[int, str]]:
    """``(line, top-level name)`` of every absolute import in ``path``; with ``module_level_only``,
    only those run when the module is imported (not inside a function, nor under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def walk(nodes):
        for node in nodes:
            if module_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if module_level_only and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            yield node
            yield from walk(ast.iter_child_nodes(node))

    found = []
    for node in walk(tree.body):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _where(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_only_the_sandbox_engine_imports_the_docker_sdk():
    bad = [f"{_where(f)}:{line}" for f in _all_files() for line, name in _external_imports(f)
           if name == "docker" and _where(f) != "sandbox/engine.py"]
    assert not bad, "the docker SDK imported outside sandbox/engine.py:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", NO_TRAINING)
def test_packages_below_training_never_import_training_libraries(package):
    bad = [f"{_where(f)}:{line} imports {name}" for f in _package_files(package)
           for line, name in _external_imports(f) if name in TRAINING]
    assert not bad, f"{package}/ must not import torch/transformers/trl/peft:\n" + "\n".join(bad)


def test_no_module_imports_a_heavy_library_when_it_is_imported():
    bad = [f"{_where(f)}:{line} imports {name}" for f in _all_files()
           for line, name in _external_imports(f, module_level_only=True)
           if name in HEAVY and _where(f) not in HEAVY_EDGES]
    assert not bad, "heavy imports belong inside the function that needs them:\n" + "\n".join(bad)
    assert all((ROOT / edge).exists() for edge in HEAVY_EDGES), "a HEAVY_EDGES entry names no module"


def test_the_command_line_starts_without_heavy_libraries():
    import subprocess
    import sys

    probe = f"import sys, patchloop.cli; print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"`patchloop --help` loads {out.stdout.strip()}"


def _module_graph() -> dict[str, set[str]]:
    """Module -> the patchloop modules it imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    names = {".".join(_module_name(f, ROOT)): f for f in _all_files()}
    graph = {}
    for name, f in names.items():
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, name.split("."), f.name == "__init__.py")
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in names else base for a in node.names}
        deps = set()
        for t in targets:
            while t and t not in names:
                t = t.rpartition(".")[0]
            if t and t != name:
                deps.add(t)
        graph[name] = deps
    return graph


def test_no_import_loop_inside_a_package():
    graph = _module_graph()
    folder = {m: m.rpartition(".")[0] for m in graph}
    for m in graph:  # a package's __init__ is its folder's front door, not one of its rooms
        if (ROOT.parent / Path(*m.split(".")) / "__init__.py").exists():
            folder[m] = m
    loops = set()
    for start in graph:
        stack = [(d, (start, d)) for d in graph[start] if folder[d] == folder[start] and d != folder[start]]
        seen = set()
        while stack:
            node, path = stack.pop()
            if node == start:
                loops.add(" -> ".join(path))
                continue
            if node in seen:
                continue
            seen.add(node)
            stack += [(d, (*path, d)) for d in graph[node] if folder[d] == folder[start] and d != folder[start]]
    assert not loops, "modules of one package import each other:\n" + "\n".join(sorted(loops))


def test_the_front_end_imports_its_commands_plainly():
    front = [ROOT / "cli.py", *sorted((ROOT / "commands").rglob("*.py"))]
    bad = [f"{_where(f)}:{node.lineno}" for f in front
           for node in ast.walk(ast.parse(f.read_text(encoding="utf-8")))
           if isinstance(node, ast.Call) and ast.unparse(node.func) in {"importlib.import_module", "__import__",
                                                                         "import_module"}]
    assert not bad, "a module imported by name string hides its arrow from these tests:\n" + "\n".join(bad)


# A command's signature is its argument list, as long as its options; what it may not grow is
# the body. No exceptions: a pipeline goes into its package, as `eval func`'s did (evals/func/run.py).


def test_commands_parse_arguments_and_call_one_function():
    long = []
    for f in [ROOT / "cli.py", *sorted((ROOT / "commands").rglob("*.py"))]:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None and len(node.body) > 1 else node.body
            lines = node.end_lineno - body[0].lineno + 1
            if lines > 40:
                long.append(f"{_where(f)}:{node.name} has a {lines}-line body")
    assert not long, "commands only parse arguments; move the pipeline into its package:\n" + "\n".join(long)
