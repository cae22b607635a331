"""Combined bugs (``datagen repos --combine``): two kept bugs of one file, validated together.

The pairing and the combined diff run on real git over ``examples/repos/calckit``; the
pipeline test validates real bugs in Docker with the real harness."""

from __future__ import annotations

import json
import subprocess

import pytest

from patchloop.datagen.repos import combine
from patchloop.datagen.repos.candidates import Candidate, file_diff, write_buggy_commit
from patchloop.datagen.repos.issues import TemplateWriter
from patchloop.datagen.repos.pipeline import ReposConfig, finish, process_repo
from patchloop.datagen.repos.source import prepare_source
from patchloop.datagen.repos.validate import Outcome
from patchloop.evals.datasets import load_tasks
from patchloop.evals.repos import PROJECT_ROOT
from patchloop.types import Task, write_jsonl

CALCKIT = PROJECT_ROOT / "examples" / "repos" / "calckit"
STATS = "calckit/stats.py"
# (target, text in stats.py, its buggy replacement): three bugs in three functions of one file,
# and a fourth in the same lines as the first
BUGS = [("mean", "        total += v\n", "        total -= v\n"),
        ("clamp", "    if x < low:\n        return low\n", "    if x < low:\n        return high\n"),
        ("running_total", "        acc = acc + v\n", "        acc = acc * v\n"),
        ("mean", "        total += v\n", "        total += 2 * v\n")]


def _bug(src, i: int) -> Candidate:
    target, old, new = BUGS[i]
    text = (src.path / STATS).read_text()
    assert old in text
    diff = file_diff(src.path, STATS, text.replace(old, new, 1))
    return Candidate(f"calckit.by_hand__{i}", "calckit", STATS, target, "by_hand", diff)


def _kept(src, cand: Candidate) -> Task:
    """An instance as the pipeline keeps it (base at the buggy root commit), without validation."""
    buggy = write_buggy_commit(src.path, [cand.diff], f"refs/patchloop/bugs/{cand.id}")
    return Task(cand.id, repo="calckit", base_commit=buggy, FAIL_TO_PASS=[f"t_{cand.target}"],
                extra={"mutated_path": cand.path, "mutated_target": cand.target, "mutation": cand.mutation})


@pytest.fixture
def src(tmp_path):
    return prepare_source(tmp_path, repo=str(CALCKIT))


def test_pairs_are_same_file_different_functions_and_seeded(src):
    kept = [_kept(src, _bug(src, i)) for i in range(4)]
    pairs = combine.combinations(src.path, "calckit", kept, seed=0, limit=10)
    targets = sorted(c.target for c in pairs)
    # bug 3 shares its function with bug 0; the other pairs differ in function and apply together
    assert targets == ["clamp+mean", "clamp+running_total", "mean+clamp", "mean+running_total", "running_total+mean"]
    assert all(c.mutation == combine.MUTATION and len(c.parts) == 2 and c.path == STATS for c in pairs)
    again = combine.combinations(src.path, "calckit", list(reversed(kept)), seed=0, limit=10)
    assert [c.id for c in again] == [c.id for c in pairs]  # the input order does not matter, the seed does
    assert len(combine.combinations(src.path, "calckit", kept, seed=0, limit=2)) == 2


def test_combined_diff_carries_both_bugs_and_applies_on_the_base(src, tmp_path):
    a, b = _bug(src, 0), _bug(src, 1)
    diff = combine.combined_diff(src.path, [a.diff, b.diff])
    assert diff.count("diff --git") == 1 and "-        total += v" in diff and "+        return high" in diff
    work = tmp_path / "wt"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(work), "refs/patchloop/base"], cwd=src.path,
                   check=True)
    subprocess.run(["git", "apply", "-"], cwd=work, input=diff, text=True, check=True)
    text = (work / STATS).read_text()
    assert "total -= v" in text and "return high" in text and "total += v" not in text


def test_bugs_in_the_same_lines_do_not_combine(src):
    assert combine.combined_diff(src.path, [_bug(src, 0).diff, _bug(src, 3).diff]) is None


def test_a_part_hidden_by_the_other_drops_the_pair(src, tmp_path, monkeypatch):
    """Control flow of the ``masked`` check (the validation itself is the Docker test below)."""
    cand = combine.combinations(src.path, "calckit", [_kept(src, _bug(src, i)) for i in (0, 1)], limit=1)[0]
    seen = Task(cand.id, FAIL_TO_PASS=["t_mean"], PASS_TO_PASS=["t_other"])
    monkeypatch.setattr(combine, "validate_candidate",
                        lambda c, *a, **k: (Outcome(c.id, c.repo, c.mutation, True, wall_s=3.0, runs=[1.0]), seen))
    parts = [Task("a", FAIL_TO_PASS=["t_mean"]), Task("b", FAIL_TO_PASS=["t_clamp"])]
    outcome, task = combine.validate_combined(cand, parts, src, [], tmp_path, TemplateWriter(), timeout=5,
                                              backend="docker")
    assert task is None and not outcome.kept and outcome.reason.startswith("masked: 1 failing test")
    assert "t_clamp" in outcome.reason and outcome.wall_s == 3.0
    parts[1].FAIL_TO_PASS = ["t_mean"]
    outcome, task = combine.validate_combined(cand, parts, src, [], tmp_path, TemplateWriter(), timeout=5,
                                              backend="docker")
    assert outcome.kept and task.extra["parts"] == ["a", "b"]


@pytest.mark.docker
def test_pipeline_combines_kept_bugs_after_the_singles(tmp_path, docker_client):
    out = tmp_path / "out"
    src = prepare_source(out, repo=str(CALCKIT))
    work = out / "work" / "calckit"
    work.mkdir(parents=True)
    write_jsonl(work / "candidates.jsonl", [_bug(src, 0), _bug(src, 1)])  # the singles: two hand-made bugs
    cfg = ReposConfig(timeout_s=60, combine=3)
    events: list[str] = []
    first = process_repo(f"path:{CALCKIT}", out, cfg, workers=2, on_event=events.append)
    assert first["kept"] == 2 and first["tried"] == 2, events  # singles first; no pair before both have outcomes
    second = process_repo(f"path:{CALCKIT}", out, cfg, on_event=events.append)
    assert second["kept"] == 1 and second["tried"] == 1, events
    assert process_repo(f"path:{CALCKIT}", out, cfg, on_event=events.append)["tried"] == 0  # resumed: nothing left
    tasks = {t.instance_id: t for t in load_tasks(out / "instances.jsonl")}
    (pair,) = [t for t in tasks.values() if t.extra["mutation"] == combine.MUTATION]
    singles = [tasks[p] for p in pair.extra["parts"]]
    assert sorted(pair.extra["part_mutations"]) == ["by_hand", "by_hand"]
    assert set(pair.FAIL_TO_PASS) == {t for s in singles for t in s.FAIL_TO_PASS}  # both bugs show
    assert pair.PASS_TO_PASS and "mean" in pair.extra["mutated_target"] and "clamp" in pair.extra["mutated_target"]
    stats = finish(out, cfg)
    assert stats["per_mutation"][combine.MUTATION] == {"tried": 1, "kept": 1}
    assert [json.loads(x)["id"] for x in (work / "combined.jsonl").read_text().splitlines()] == [pair.instance_id]


def test_fingerprints_made_before_combine_still_match():
    """An output made before ``combine`` existed resumes: the field is left out of the hash at 0."""
    import hashlib

    before = {k: v for k, v in ReposConfig().model_dump().items() if k not in ("combine", "teacher_bugs", "teacher_mode")}
    old_hash = hashlib.sha256(json.dumps({"v": 1, **before}, sort_keys=True).encode()).hexdigest()[:16]
    assert ReposConfig().fingerprint() == old_hash != ReposConfig(combine=2).fingerprint()
