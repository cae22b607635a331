"""``datagen repos`` on the example repository ``examples/repos/calckit``: real Docker, real git,
the real harness. Instances must pass ``eval validate`` and leak nothing of the fix."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from patchloop.datagen.repos.candidates import Candidate
from patchloop.datagen.repos.issues import TemplateWriter
from patchloop.datagen.repos.pipeline import ReposConfig, check_fingerprint, finish, process_repo
from patchloop.datagen.repos.source import prepare_source
from patchloop.datagen.repos.suite import run_suite
from patchloop.datagen.repos.validate import validate_candidate
from patchloop.evals.datasets import load_tasks
from patchloop.evals.repos import PROJECT_ROOT, checkout_task_repo, git
from patchloop.evals.validate import validate

pytestmark = pytest.mark.docker
CALCKIT = PROJECT_ROOT / "examples" / "repos" / "calckit"


@pytest.fixture(scope="module")
def generated(tmp_path_factory, docker_client):
    out = tmp_path_factory.mktemp("repos-out")
    cfg = ReposConfig(max_candidates=6, timeout_s=60)
    check_fingerprint(out, cfg)
    events: list[str] = []
    first = process_repo(f"path:{CALCKIT}", out, cfg, workers=2, on_event=events.append)
    return out, cfg, first, events


def test_kept_instances_pass_eval_validate(generated, tmp_path):
    out, cfg, first, events = generated
    assert first["tried"] == 6 and first["kept"] >= 1, events
    tasks = load_tasks(out / "instances.jsonl")  # the file as `eval validate` reads it
    assert len(tasks) == first["kept"]
    assert validate(tasks, tmp_path / "v", backend="docker", timeout=60, progress=False) == {}
    for t in tasks:
        assert t.FAIL_TO_PASS and t.PASS_TO_PASS and not set(t.FAIL_TO_PASS) & set(t.PASS_TO_PASS)
        assert t.test_patch == "" and "test_patch is empty" in t.extra["test_patch_note"]
        assert t.extra["license"] == "MIT" and t.extra["repo_path"] == "repos/calckit"
        assert "diff --git" not in t.problem_statement and "@@" not in t.problem_statement
        assert not any(f.split("::")[-1].split("[")[0] in t.problem_statement for f in t.FAIL_TO_PASS)


def test_checkout_of_an_instance_reveals_no_fix(generated, tmp_path):
    out, *_ = generated
    task = load_tasks(out / "instances.jsonl")[0]
    repo = checkout_task_repo(task, tmp_path / "ws")
    assert git(repo, "rev-parse", "HEAD") == task.base_commit
    assert git(repo, "rev-list", "--all").split() == [task.base_commit]  # no history, no other refs
    path = task.extra["mutated_path"]
    fixed_blob = git(out / "repos" / "calckit", "rev-parse", f"refs/patchloop/base:{path}")
    assert git(repo, "cat-file", "-e", fixed_blob, check=False, strip=False) == ""
    assert subprocess.run(["git", "cat-file", "-e", fixed_blob], cwd=repo).returncode != 0
    assert not git(repo, "cat-file", "-p", "HEAD").count("parent")
    litter = [p for p in repo.rglob("*") if p.suffix in (".orig", ".rej", ".pyc") or p.name == "__pycache__"
              or p.name == ".pytest_cache"]
    assert litter == []
    # the fixed state is the gold patch away, and only that
    assert subprocess.run(["git", "apply", "--check", "-"], cwd=repo, input=task.patch, text=True).returncode == 0


def test_rerun_resumes_and_splits_by_repo(generated):
    out, cfg, first, _ = generated
    again = process_repo(f"path:{CALCKIT}", out, cfg, on_event=lambda m: None)
    assert again["tried"] == 0  # every candidate has an outcome already
    outcomes = [json.loads(x) for x in (out / "work" / "calckit" / "outcomes.jsonl").read_text().splitlines()]
    assert len(outcomes) == 6 and all(o["reason"] or o["kept"] for o in outcomes)
    stats = finish(out, cfg)
    assert stats["tried"] == 6 and sum(r["tried"] for r in stats["per_mutation"].values()) == 6
    assert stats["splits"]["train"]["repos"] == ["calckit"] and stats["splits"]["eval"]["instances"] == 0
    with pytest.raises(ValueError, match=r"was made with max_candidates \d+, not 7"):
        check_fingerprint(out, ReposConfig(max_candidates=7))


def _repo_with(tmp_path, name, tests):
    repo = tmp_path / name
    shutil.copytree(CALCKIT, repo)
    (repo / "tests" / "test_extra.py").write_text(tests)
    return repo


def test_hanging_suite_and_failing_suite_are_counted_skips(tmp_path, docker_client):
    out = tmp_path / "out"
    cfg = ReposConfig(suite_timeout_s=15, max_candidates=1)
    hang = _repo_with(tmp_path, "hangs", "def test_forever():\n    while True:\n        pass\n")
    bad = _repo_with(tmp_path, "broken", "".join(f"def test_no_{i}():\n    assert False\n" for i in range(40)))
    r1 = process_repo(f"path:{hang}", out, cfg, on_event=lambda m: None)
    r2 = process_repo(f"path:{bad}", out, ReposConfig(suite_timeout_s=300), on_event=lambda m: None)
    assert "hangs" in r1["skipped"]
    assert "only 21/61 pass" in r2["skipped"]
    skips = [json.loads(x) for x in (out / "skips.jsonl").read_text().splitlines()]
    assert [s["reason"] for s in skips] == [r1["skipped"], r2["skipped"]]


def test_a_mutation_that_breaks_import_is_a_counted_drop(generated, tmp_path):
    out, *_ = generated
    src = prepare_source(out, repo=str(CALCKIT))
    suite = run_suite(src, timeout=120)
    diff = git(src.path, "diff", "refs/patchloop/base", "refs/patchloop/base", strip=False)  # empty: build by hand
    assert diff == ""
    init = (src.path / "calckit" / "stats.py").read_text()
    (src.path / "calckit" / "stats.py").write_text("raise ImportError('broken')\n" + init)
    diff = git(src.path, "diff", strip=False)
    (src.path / "calckit" / "stats.py").write_text(init)
    cand = Candidate("calckit.by_hand__0", "calckit", "calckit/stats.py", "mean", "by_hand", diff)
    outcome, task = validate_candidate(cand, src, suite.passing, tmp_path, TemplateWriter(), timeout=60)
    assert task is None and outcome.reason == "breaks_import"
