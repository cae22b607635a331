"""How the repair dataset is split and checked: by package, portable, and with no held-out leak.

A score on held-out packages means something only if training never saw them, so the split is
by package (repository), never by instance, and two checks stand between a held-out package
and the training splits: its *name* (``owner/ledger`` and ``other/ledger`` are one package
under two owners) before any row is made, and the *normalised source of the functions a row
shows* (a fork or a vendored copy under another name) before a training row is written.

Rows travel to other machines (a GPU box trains on what a laptop made), so the instance a row
carries drops the absolute dataset directory ``load_tasks`` adds, and a relative ``repo_path``
or ``repo_archive`` is rewritten against the project root where it lies inside the project;
what still names a path on this machine is reported, so the data card can say so.
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
from collections.abc import Iterable
from pathlib import Path

from patchloop.evals.repos import PROJECT_ROOT
from patchloop.types import Task

SPLITS = ("train", "validation", "heldout")
TRAINING = ("train", "validation")
MIN_SOURCE_LINES = 4  # def line + 3: shorter functions are common to unrelated packages


class HeldoutLeak(ValueError):
    """A held-out package found in a training split; one line naming both sides."""


def package(task: Task) -> str:
    """The package an instance belongs to: its ``repo`` (``owner/name``), else its id's stem."""
    return task.repo or task.instance_id.rsplit("-", 1)[0]


def package_key(name: str) -> str:
    """What makes two package names one package: the last path part, case and ``-``/``_``/``.``
    folded (PyPI's normalisation), so ``Org/My_Pkg`` and ``my-pkg`` meet."""
    return re.sub(r"[-_.]+", "-", name.rstrip("/").rsplit("/", 1)[-1].lower())


def names_package(name: str, pkg: str) -> bool:
    """``owner/name`` names that repository only; a bare ``name`` names it under any owner."""
    if "/" in name:
        return name.strip("/").lower() == pkg.lower()
    return package_key(name) == package_key(pkg)


def plan_splits(tasks: list[Task], heldout: Iterable[str], validation_fraction: float,
                seed: int) -> dict[str, str]:
    """Package -> split. Held-out: the packages named (each must name one); validation: a
    seeded share of the rest (at least one when the share is above 0 and two are left)."""
    packages = sorted({package(t) for t in tasks})
    wanted = [h.strip() for h in heldout if h.strip()]
    unknown = [h for h in wanted if not any(names_package(h, p) for p in packages)]
    if unknown:
        raise ValueError(f"--heldout-packages {', '.join(unknown)}: no instance of it "
                         f"(packages: {', '.join(packages)})")
    plan = {p: "heldout" for p in packages if any(names_package(h, p) for h in wanted)}
    rest = [p for p in packages if p not in plan]
    k = round(len(rest) * validation_fraction)
    k = min(max(k, 1 if validation_fraction > 0 and len(rest) >= 2 else 0), max(len(rest) - 1, 0))
    chosen = set(random.Random(seed).sample(rest, k))
    plan |= {p: "validation" if p in chosen else "train" for p in rest}
    return plan


def check_names(plan: dict[str, str]) -> dict:
    """Refuse a held-out package whose name a training package also has (``--heldout-packages
    owner/ledger`` while ``fork/ledger`` trains): name both, or the bare name. ``plan``: package
    -> split, planned or as the written rows have it. Returns the check's record for the card."""
    held = {package_key(p): p for p, s in plan.items() if s == "heldout"}
    for p, s in plan.items():
        if s in TRAINING and package_key(p) in held:
            raise HeldoutLeak(f"held-out package {held[package_key(p)]} is also in {s} as {p}: "
                              "a package must be in one split only")
    return {"by_name": "clean", "heldout": sorted(held.values())}


def check_written(rows_by_split: dict[str, Iterable[dict]]) -> None:
    """The rows the split files hold (an earlier run's, or a file edited since): each package
    in one split only, and no held-out name in training (``check_names``)."""
    where: dict[str, set[str]] = {}
    for split, rows in rows_by_split.items():
        for row in rows:
            where.setdefault(str(row.get("package", "?")), set()).add(split)
    for pkg, splits in sorted(where.items()):
        if len(splits) > 1:
            raise HeldoutLeak(f"package {pkg} has rows in {' and '.join(sorted(splits))}: "
                              "a package must be in one split only")
    check_names({pkg: splits.pop() for pkg, splits in where.items()})


def project_mentions(packages: Iterable[str], builtin: Iterable[str] = (), *,
                     root: Path = PROJECT_ROOT) -> dict[str, list[str]]:
    """Where the project itself names each package: ``README.md``, ``docs/*.md``, or the
    repositories of the built-in instances (``builtin``). A package held out to measure transfer
    should be named nowhere: the project's examples and docs are what a model card, a teacher
    prompt or a later session copies from. Returns package -> places (empty: unseen)."""
    texts = {str(f.relative_to(root)): f.read_text(errors="replace").lower()
             for f in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if f.exists()}
    known = {package_key(b) for b in builtin}
    out: dict[str, list[str]] = {}
    for pkg in packages:
        key = package_key(pkg)
        spellings = {key, key.replace("-", "_"), key.replace("-", ".")}
        pattern = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, sorted(spellings))) + r")(?![\w-])")
        out[pkg] = [name for name, text in texts.items() if pattern.search(text)] + \
            (["built-in instances"] if key in known else [])
    return out


def normalised_source(text: str, qualname: str) -> str | None:
    """The definition ``qualname`` (a function, method or class) of a Python file as ``ast``
    prints it without docstrings: comments, blank lines, quoting and layout do not count."""
    try:
        body: list[ast.stmt] = ast.parse(text).body
    except (SyntaxError, ValueError, RecursionError):
        return None
    node = None
    for part in qualname.split("."):
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return None
        body = node.body
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body \
                and isinstance(n.body[0], ast.Expr) and isinstance(getattr(n.body[0], "value", None), ast.Constant) \
                and isinstance(n.body[0].value.value, str):
            n.body = n.body[1:] or [ast.Pass()]
    return ast.unparse(node)


def target_digests(files: dict[str, str], targets: list[str]) -> list[str]:
    """A short hash of each target's normalised source (what the leak check compares). Sources
    under ``MIN_SOURCE_LINES`` lines are left out: two packages may share a one-line
    ``__len__`` without one being a copy of the other."""
    out = []
    for target in targets:
        path, _, qualname = target.partition("::")
        src = normalised_source(files.get(path, ""), qualname)
        if src is not None and src.count("\n") + 1 >= MIN_SOURCE_LINES:
            out.append(hashlib.sha256(src.encode()).hexdigest()[:16])
    return out


def check_sources(row: dict, split: str, heldout: dict[str, str]) -> None:
    """Refuse a training row that shows a function a held-out row shows (``heldout``: digest ->
    the held-out instance that has it)."""
    if split not in TRAINING:
        return
    for digest in row.get("target_digests", []):
        if digest in heldout:
            raise HeldoutLeak(f"instance {row['instance_id']} ({split}) shows the same function as held-out "
                              f"instance {heldout[digest]} (normalised source {digest}): a held-out package "
                              "leaks into training; name both packages held out, or neither")


def portable_instance(task: Task) -> tuple[dict, str | None]:
    """The instance as a row carries it, and the path on this machine it still needs (None when
    it needs none): ``_dataset_dir`` dropped; an instance with ``repo_sdist`` (a PyPI release
    and its patch rebuild it anywhere) drops its ``repo_path``; relative paths made relative to the
    project root where they lie inside it, absolute otherwise."""
    data = task.to_dict()
    base = data.pop("_dataset_dir", None)
    if data.get("repo_sdist"):  # rebuilt from the PyPI release on any machine: no local path needed
        data.pop("repo_path", None)
        return data, None
    for key in ("repo_path", "repo_archive"):
        raw = data.get(key)
        if not raw:
            continue
        path = Path(str(raw)).expanduser()
        if not path.is_absolute():  # as ``evals.repos`` resolves it: the dataset's directory, then the project
            found = [(Path(b) / path).resolve() for b in (base, PROJECT_ROOT) if b]
            path = next((p for p in found if p.exists()), found[0])
        if path.is_relative_to(PROJECT_ROOT):
            data[key] = path.relative_to(PROJECT_ROOT).as_posix()
            return data, f"{key} in the project: {data[key]}"
        data[key] = str(path)
        return data, f"{key} on this machine: {path}"
    url = str(data.get("repo_url") or "")
    if url.startswith("file:") or (url and "://" not in url and ":" not in url):
        return data, f"repo_url on this machine: {url}"
    return data, None
