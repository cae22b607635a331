"""Harder tasks from validated bugs: two kept bugs of one file applied together (SWE-smith's
combine strategy), validated again like any candidate.

A combination is made only from bugs that were each kept on their own, in different functions
of the same file, whose diffs apply together on the base. Its diff is one file diff against the
base, so the rest of the pipeline (buggy root commit, gold patch, ``eval validate``) treats it
as any candidate. On top of the usual checks it must show *every* part: its FAIL_TO_PASS must
hold each part's FAIL_TO_PASS. When one bug hides the other (an early exception, a shared
test), fixing the visible one would look like the whole fix, so such a pair is dropped as
``masked``. Pairs are listed in a seeded order, like the single candidates, so a resumed run
validates the same ones.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
from collections import defaultdict
from pathlib import Path

from patchloop.datagen.repos.candidates import Candidate, seeded_rng
from patchloop.datagen.repos.source import RepoSource
from patchloop.datagen.repos.validate import Outcome, validate_candidate
from patchloop.evals.repos import RepoError, git
from patchloop.types import Task

MUTATION = "combine_file"


def combined_diff(repo: Path, diffs: list[str]) -> str | None:
    """One diff against the base with every ``diffs`` applied, or None when they do not apply
    together (overlapping or adjacent hunks)."""
    with tempfile.TemporaryDirectory(prefix="patchloop-combine-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git(repo, "read-tree", "refs/patchloop/base", env=env)
        try:
            for d in diffs:
                git(repo, "apply", "--cached", "-", env=env, stdin=d)
        except RepoError:
            return None
        return git(repo, "diff", "--cached", "--no-color", "--no-ext-diff", "refs/patchloop/base", env=env,
                   strip=False)


def combinations(repo: Path, slug: str, kept: list[Task], *, seed: int = 0, limit: int = 0) -> list[Candidate]:
    """Up to ``limit`` pairs of ``kept`` instances of repository ``slug``: same file, different
    functions, diffs that apply together. Listed in a seeded order; each is a ``Candidate`` whose
    target names both parts (``a+b``) and whose id hashes the combined diff."""
    by_file: dict[str, list[Task]] = defaultdict(list)
    for t in sorted(kept, key=lambda t: t.instance_id):
        by_file[t.extra.get("mutated_path", "")].append(t)
    pairs = [(path, a, b) for path, ts in sorted(by_file.items()) if path
             for a, b in itertools.combinations(ts, 2)
             if a.extra.get("mutated_target") != b.extra.get("mutated_target")]
    seeded_rng(seed, slug, MUTATION).shuffle(pairs)
    out: list[Candidate] = []
    for path, a, b in pairs:
        if len(out) >= limit:
            break
        diff = combined_diff(repo, [bug_diff(repo, a), bug_diff(repo, b)])
        if not diff:
            continue
        cid = f"{slug}.{MUTATION}__{hashlib.sha256(diff.encode()).hexdigest()[:8]}"
        target = f"{a.extra.get('mutated_target')}+{b.extra.get('mutated_target')}"
        out.append(Candidate(cid, slug, path, target, MUTATION, diff, parts=[a.instance_id, b.instance_id]))
    return out


def bug_diff(repo: Path, task: Task) -> str:
    """A kept instance's bug as a diff against the base (the reverse of its gold patch)."""
    return git(repo, "diff", "--no-color", "--no-ext-diff", "refs/patchloop/base", task.base_commit, strip=False)


def validate_combined(cand: Candidate, parts: list[Task], src: RepoSource, passing: list[str], work: Path,
                      writer, *, timeout: float, backend: str) -> tuple[Outcome, Task | None]:
    """``validate_candidate``, then the combination must show every part's failing tests."""
    outcome, task = validate_candidate(cand, src, passing, work, writer, timeout=timeout, backend=backend)
    if task is None:
        return outcome, None
    hidden = sorted({t for p in parts for t in p.FAIL_TO_PASS} - set(task.FAIL_TO_PASS))
    if hidden:
        reason = f"masked: {len(hidden)} failing test(s) of a part pass when combined ({hidden[0]})"
        return Outcome(cand.id, cand.repo, cand.mutation, False, reason, wall_s=outcome.wall_s, runs=outcome.runs), None
    task.extra["parts"] = [p.instance_id for p in parts]
    task.extra["part_mutations"] = [p.extra.get("mutation", "") for p in parts]
    return outcome, task
