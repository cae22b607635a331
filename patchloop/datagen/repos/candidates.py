"""Candidate bugs: every registered mutation tried on every covered function and class.

Generation is a pure function of the repository's files, the suite's coverage and the seed:
each (file, target, mutation) draws from its own ``Random`` seeded by those names, so a rerun
(after a kill, or with more repositories) yields the same candidates in the same order. A
candidate is a git diff against the base commit, named by a hash of that diff.

``write_buggy_commit`` turns a kept candidate into the instance's ``base_commit``: a *root*
commit (no parent, fixed identity) whose tree is the base tree with the mutated file, so a
checkout of it (depth 1) carries no object of the fixed file and no pointer to the base.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from patchloop.datagen.repos.mutations import BY_NAME, MUTATIONS, apply, complexity
from patchloop.evals.repos import _SNAPSHOT_ENV, SNAPSHOT_MESSAGE, git
from patchloop.types import Record

_SKIP_DIRS = {"tests", "test", "testing", "docs", "doc", "benchmark", "benchmarks", "examples", "tools",
              "scripts", ".git", "build"}


@dataclass
class Candidate(Record):
    """One bug: where it is, which technique made it, and its diff against the base."""

    id: str
    repo: str
    path: str
    target: str
    mutation: str
    diff: str
    code: str = ""
    parts: list[str] = field(default_factory=list)  # a combination's kept bugs (``combine``)


def is_source_file(rel: str) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    return (name.endswith(".py") and not name.startswith("test_") and not name.endswith("_test.py")
            and name not in ("conftest.py", "setup.py", "noxfile.py")
            and not any(p in _SKIP_DIRS or p.startswith(".") for p in parts[:-1]))


@dataclass
class Target:
    qualname: str
    node: cst.CSTNode
    start: int
    end: int
    ancestors: list[cst.CSTNode]


def targets(wrapper: MetadataWrapper) -> list[Target]:
    """Functions and classes of a module with their qualified names and line spans."""
    pos = wrapper.resolve(PositionProvider)
    found: list[Target] = []
    stack: list[str] = []
    nodes: list[cst.CSTNode] = []

    class _Walk(cst.CSTVisitor):
        def on_visit(self, node):
            nodes.append(node)
            return super().on_visit(node)

        def on_leave(self, node):
            super().on_leave(node)
            nodes.pop()

        def _enter(self, node, name):
            stack.append(name)
            r = pos[node]
            found.append(Target(".".join(stack), node, r.start.line, r.end.line, nodes[:-1]))

        def visit_FunctionDef(self, node):
            self._enter(node, node.name.value)

        def leave_FunctionDef(self, node):
            stack.pop()

        def visit_ClassDef(self, node):
            self._enter(node, node.name.value)

        def leave_ClassDef(self, node):
            stack.pop()

    wrapper.module.visit(_Walk())
    return found


def _covered(t: Target, lines: set[int], all_targets: list[Target]) -> bool:
    """A function is covered when a line of its body ran (its ``def`` line runs at import);
    a class when one of its methods is."""
    if isinstance(t.node, cst.ClassDef):
        return any(_covered(o, lines, []) for o in all_targets
                   if isinstance(o.node, cst.FunctionDef) and t.start < o.start <= t.end)
    return any(t.start < ln <= t.end for ln in lines)


def seeded_rng(seed: int, *names: str) -> random.Random:
    """A ``Random`` seeded by the run's seed and the names of what it draws for (stable across runs)."""
    return random.Random(hashlib.sha256(":".join([str(seed), *names]).encode()).hexdigest())


def covered_targets(repo: Path, covered: dict[str, list[int]]) -> Iterator[tuple[str, str, MetadataWrapper, Target]]:
    """(file, its text, its parsed module, target) for every function and class of the
    repository's source files that the passing tests executed, file by file in name order.
    Files with no recorded coverage, and files that do not parse, give none."""
    for rel in sorted(covered):
        if not is_source_file(rel) or not (repo / rel).is_file():
            continue
        try:
            text = (repo / rel).read_text(encoding="utf-8")
            wrapper = MetadataWrapper(cst.parse_module(text))
        except (cst.ParserSyntaxError, UnicodeDecodeError):
            continue
        lines, all_t = set(covered[rel]), targets(wrapper)
        for t in all_t:
            if _covered(t, lines, all_t):
                yield rel, text, wrapper, t


def generate(repo: Path, slug: str, covered: dict[str, list[int]], *, seed: int = 0,
             limit: int | None = None) -> Iterator[Candidate]:
    """Candidates of the repository at ``repo`` (its work tree at the base), at most ``limit``.

    Every (file, covered target, mutation) is listed first, then shuffled by ``seed``, and only
    as many are rewritten as ``limit`` asks (a rewrite costs far more than listing)."""
    found = list(covered_targets(repo, covered))
    triples = [(i, mu.name) for i, (_, _, _, t) in enumerate(found) for mu in MUTATIONS
               if isinstance(t.node, mu.kinds) and complexity(t.node) >= mu.min_complexity]
    seeded_rng(seed, slug).shuffle(triples)
    seen: set[str] = set()
    for i, name in triples:
        if limit is not None and len(seen) >= limit:
            return
        (rel, text, wrapper, t), mu = found[i], BY_NAME[name]
        rng = seeded_rng(seed, slug, rel, t.qualname, mu.name)
        if rng.random() >= mu.likelihood:
            continue
        code = apply(wrapper.module, mu, t.node, rng, t.ancestors, text)
        if code is None:
            continue
        diff = file_diff(repo, rel, code)
        cid = f"{slug}.{mu.name}__{hashlib.sha256(diff.encode()).hexdigest()[:8]}"
        if diff and cid not in seen:
            seen.add(cid)
            yield Candidate(cid, slug, rel, t.qualname, mu.name, diff)


def file_diff(repo: Path, rel: str, new_text: str) -> str:
    """``git diff`` of one file rewritten to ``new_text``; the work tree is restored after."""
    path = repo / rel
    old = path.read_bytes()
    try:
        path.write_text(new_text, encoding="utf-8")
        return git(repo, "diff", "--no-color", "--no-ext-diff", "--", rel, strip=False)
    finally:
        path.write_bytes(old)


def write_buggy_commit(repo: Path, diffs: list[str], ref: str) -> str:
    """A parentless commit of the base tree with ``diffs`` applied, kept under ``ref``."""
    with tempfile.TemporaryDirectory(prefix="patchloop-bug-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git(repo, "read-tree", "refs/patchloop/base", env=env)
        for d in diffs:
            git(repo, "apply", "--cached", "-", env=env, stdin=d)
        tree = git(repo, "write-tree", env=env)
    commit = git(repo, "commit-tree", tree, "-m", SNAPSHOT_MESSAGE.strip(), env=_SNAPSHOT_ENV)
    git(repo, "update-ref", ref, commit)
    return commit


def gold_patch(repo: Path, buggy: str) -> str:
    """The fix: the diff from the buggy commit back to the base."""
    return git(repo, "diff", "--no-color", "--no-ext-diff", buggy, "refs/patchloop/base", strip=False)
