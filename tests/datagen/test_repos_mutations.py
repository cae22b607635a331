"""Mutations and candidates on the syntax tree: no sandbox needed (nothing of a repository runs)."""

from __future__ import annotations

import random
import shutil
import subprocess

import libcst as cst
import pytest

from patchloop.datagen.repos import mutations
from patchloop.datagen.repos.candidates import generate, is_source_file, targets
from patchloop.evals.repos import PROJECT_ROOT

SAMPLE = '''
class Base:
    pass


class Thing(Base):
    def size(self):
        return 1

    def name(self):
        return "x"


def work(items, limit):
    """Doc."""
    total = 0
    for i in range(len(items)):
        if items[i] > limit and i < 10:
            total += items[i] * 2
        else:
            total -= 1
    if 0 < total < 100:
        total = total - limit
    with open("f") as fh:
        fh.read()
    try:
        x = items[1:3]
    except IndexError:
        x = []
    while False:
        pass
    return total, x
'''


def _target(module, name):
    wrapper = cst.MetadataWrapper(module)
    for t in targets(wrapper):
        if t.qualname == name:
            return wrapper.module, t
    raise AssertionError(name)


@pytest.mark.parametrize("mu", mutations.MUTATIONS, ids=lambda m: m.name)
def test_every_mutation_changes_its_target_and_keeps_valid_code(mu):
    module = cst.parse_module(SAMPLE)
    name = "Thing" if isinstance(mu, (mutations.RemoveBaseClass, mutations.RemoveMethod,
                                      mutations.ShuffleMethods)) else "work"
    mod, t = _target(module, name)
    code = None
    for seed in range(20):  # some rewrites (shuffles) can draw the original order
        code = mutations.apply(mod, mu, t.node, random.Random(seed), t.ancestors)
        if code:
            break
    assert code and code != SAMPLE
    compile(code, "x", "exec")
    assert 0 < mu.likelihood <= 1 and mu.min_complexity >= 1
    # only the target changed: the other definitions are byte-identical
    untouched = "def work" if name == "Thing" else "class Base:\n    pass"
    assert untouched in code


def test_specific_rewrites():
    mod, t = _target(cst.parse_module(SAMPLE), "work")
    inv = mutations.apply(mod, mutations.InvertIf(), t.node, random.Random(0), t.ancestors)
    assert "else:\n            total += items[i] * 2" in inv
    chain = mutations.apply(mod, mutations.BreakChain(), t.node, random.Random(1), t.ancestors)
    assert "0 < total < 100" not in chain or "items[i] > limit and i < 10" not in chain
    wrap = mutations.apply(mod, mutations.RemoveWrapper(), t.node, random.Random(0), t.ancestors)
    assert wrap.count("try:") + wrap.count("with open") == 1


def test_complexity_counts_branches():
    assert mutations.complexity(cst.parse_statement("def f():\n    return 1\n")) == 1
    assert mutations.complexity(cst.parse_statement("def f(a):\n    if a and a > 1:\n        return 1\n")) == 4


def test_registry_names_are_unique():
    names = [m.name for m in mutations.MUTATIONS]
    assert len(names) == len(set(names)) == len(mutations.BY_NAME) >= 14


@pytest.fixture
def calckit(tmp_path):
    repo = tmp_path / "calckit"
    shutil.copytree(PROJECT_ROOT / "examples" / "repos" / "calckit", repo)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"], cwd=repo, check=True)
    return repo


def _covered_all(repo):
    return {str(p.relative_to(repo)): list(range(1, 200)) for p in repo.rglob("*.py")}


def test_candidates_are_named_by_their_diff_and_seeded(calckit):
    cov = _covered_all(calckit)
    a = list(generate(calckit, "calckit", cov, seed=0))
    b = list(generate(calckit, "calckit", cov, seed=0))
    c = list(generate(calckit, "calckit", cov, seed=1))
    assert [x.id for x in a] == [x.id for x in b] and len(a) > 20
    assert [x.id for x in a] != [x.id for x in c]
    import hashlib
    for cand in a:
        assert cand.id.endswith(hashlib.sha256(cand.diff.encode()).hexdigest()[:8])
        assert cand.diff.startswith("diff --git") and is_source_file(cand.path)
        assert not cand.path.startswith("tests/")
    # the work tree is left as it was
    assert subprocess.run(["git", "status", "--porcelain"], cwd=calckit, capture_output=True, text=True).stdout == ""


def test_uncovered_functions_are_not_mutated(calckit):
    cov = _covered_all(calckit)
    cov["calckit/stats.py"] = []  # nothing in stats.py ran
    cands = list(generate(calckit, "calckit", cov, seed=0))
    assert cands and all(c.path != "calckit/stats.py" for c in cands)


def test_limit_caps_the_candidates(calckit):
    assert len(list(generate(calckit, "calckit", _covered_all(calckit), seed=0, limit=3))) == 3
