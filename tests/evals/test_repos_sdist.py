"""``repo_sdist``: a bug-injected instance rebuilt from its PyPI release and its gold patch, so
it travels without its repository; the bug's commit id must come out exactly, the fixed base
must not stay behind, and a changed release or patch is refused naming the instance."""

from __future__ import annotations

import hashlib
import tarfile

import pytest

from patchloop.datagen.repos.candidates import file_diff, gold_patch, write_buggy_commit
from patchloop.datagen.repos.source import prepare_source
from patchloop.evals.repos import RepoError, checkout_task_repo, git
from patchloop.types import Task

FIXED = "def double(x):\n    return 2 * x\n"
BUGGY = "def double(x):\n    return 3 * x\n"


@pytest.fixture
def release(tmp_path, monkeypatch):
    """``mini==1.0`` as an sdist in the cache (no download), and an instance with a bug in it,
    made as ``datagen repos`` makes one."""
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path / "cache"))
    top = tmp_path / "mini-1.0"
    (top / "mini").mkdir(parents=True)
    (top / "mini" / "__init__.py").write_text(FIXED)
    (top / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: mini\nVersion: 1.0\n")
    (tmp_path / "cache" / "sdists").mkdir(parents=True)
    archive = tmp_path / "cache" / "sdists" / "mini-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname="mini-1.0")
    src = prepare_source(tmp_path / "made", package="mini==1.0")
    buggy = write_buggy_commit(src.path, [file_diff(src.path, "mini/__init__.py", BUGGY)], "refs/patchloop/bugs/b1")
    task = Task("mini-1", repo="mini", base_commit=buggy, patch=gold_patch(src.path, buggy),
                extra={"repo_sdist": "mini==1.0", "repo_sdist_sha256": hashlib.sha256(archive.read_bytes()).hexdigest()})
    return task, src


def test_the_bug_is_rebuilt_from_the_release_with_its_commit_id_and_no_trace_of_the_fix(release, tmp_path):
    task, src = release
    repo = checkout_task_repo(task, tmp_path / "work")
    assert git(repo, "rev-parse", "HEAD") == task.base_commit
    assert (repo / "mini" / "__init__.py").read_text() == BUGGY
    assert git(repo, "rev-list", "--all").split() == [task.base_commit]
    assert git(repo, "cat-file", "-e", src.base_commit, check=False) == "" and \
        not git(repo, "cat-file", "-t", src.base_commit, check=False)  # the fixed snapshot was pruned
    git(repo, "apply", "-", stdin=task.patch)  # and the gold patch still fixes it
    assert (repo / "mini" / "__init__.py").read_text() == FIXED


def test_the_base_snapshot_itself_checks_out_without_a_patch(release, tmp_path):
    task, src = release
    base = Task("mini-base", base_commit=src.base_commit, extra={"repo_sdist": "mini==1.0"})
    repo = checkout_task_repo(base, tmp_path / "work")
    assert git(repo, "rev-parse", "HEAD") == src.base_commit


@pytest.mark.parametrize(("change", "message"), [
    ({"repo_sdist_sha256": "0" * 64}, "is not the file the instance pins"),
    ({"patch_edit": True}, "with its patch reverted is commit"),
    ({"repo_sdist": "mini==9.9"}, "repo_sdist package mini==9.9: pip download failed"),
])
def test_a_changed_release_or_patch_is_refused_naming_the_instance(release, tmp_path, change, message,
                                                                   monkeypatch):
    task, _ = release
    if change.pop("patch_edit", False):  # another bug than the one committed: a different tree
        task.patch = task.patch.replace("-    return 3 * x", "-    return 4 * x")
    monkeypatch.setattr("patchloop.evals.sdists.shutil.which", lambda _: "/no/python3")  # nothing leaves here
    task.extra |= change
    with pytest.raises(RepoError, match=f"instance mini-1: .*{message}"):
        checkout_task_repo(task, tmp_path / "work")
