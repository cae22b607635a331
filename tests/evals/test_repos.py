"""checkout_task_repo: the base and nothing after it, from every kind of source."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from patchloop.evals.datasets import load_tasks
from patchloop.evals.repos import RepoError, checkout_task_repo, git, snapshot_commit
from patchloop.types import Task

ENV = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}


@pytest.fixture
def upstream(tmp_path):
    """A repo with a base commit, then the fix committed on top, a tag, a branch, a stash."""
    src = tmp_path / "upstream"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    (src / "lib.py").write_text("def f():\n    return 1  # bug\n")
    git(src, "add", "-A")
    git(src, "commit", "-qm", "base", env=ENV)
    base = git(src, "rev-parse", "HEAD")
    (src / "lib.py").write_text("def f():\n    return 2  # THE FIX\n")
    git(src, "commit", "-qam", "fix: the answer", env=ENV)
    git(src, "tag", "v1-fixed")
    git(src, "branch", "fix-branch")
    git(src, "pack-refs", "--all")
    (src / "lib.py").write_text("stashed FIX\n")
    git(src, "stash", env=ENV)
    return src, base


def _assert_no_future(repo: Path, base: str) -> None:
    assert git(repo, "rev-parse", "HEAD") == base
    assert git(repo, "log", "--all", "--format=%H").split() == [base]
    assert git(repo, "tag") == ""
    assert git(repo, "stash", "list") == ""
    assert git(repo, "remote") == ""
    assert git(repo, "reflog", "--all", check=False) == ""
    assert "FIX" not in git(repo, "grep", "-I", "--all-match", "-e", ".", "--no-index", check=False)
    # no object anywhere in the repo contains the fix
    objs = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    assert all("THE FIX" not in git(repo, "cat-file", "-p", o) for o in objs)
    assert (repo / "lib.py").read_text().endswith("# bug\n")


def test_history_scrubbed_local_git_repo(upstream, tmp_path):
    src, base = upstream
    dest = checkout_task_repo(Task("t", base_commit=base, extra={"repo_path": str(src)}), tmp_path / "w")
    _assert_no_future(dest, base)


def test_history_scrubbed_git_url_with_cached_mirror(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path / "cache"))
    src, base = upstream
    task = Task("t", base_commit=base, extra={"repo_url": src.as_uri()})
    _assert_no_future(checkout_task_repo(task, tmp_path / "w1"), base)
    mirrors = list((tmp_path / "cache" / "repos").glob("*.git"))
    assert len(mirrors) == 1
    shutil.rmtree(src)  # the second checkout is served from the cache alone
    _assert_no_future(checkout_task_repo(task, tmp_path / "w2"), base)


def test_snapshot_commit_is_deterministic_and_checked(tmp_path):
    d = tmp_path / "plain"
    (d / "pkg").mkdir(parents=True)
    (d / "pkg" / "a.py").write_text("x = 1\n")
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    sha = snapshot_commit(d)
    assert sha == snapshot_commit(d)
    out = checkout_task_repo(Task("t", base_commit=sha, extra={"repo_path": str(d)}), tmp_path / "w")
    assert git(out, "rev-parse", "HEAD") == sha
    assert git(out, "log", "--all", "--format=%an %ad", "--date=iso") == "patchloop 2000-01-01 00:00:00 +0000"
    assert not (out / "__pycache__").exists()
    (d / "pkg" / "a.py").write_text("x = 2\n")
    with pytest.raises(RepoError, match="snapshot commit is"):
        checkout_task_repo(Task("t", base_commit=sha, extra={"repo_path": str(d)}), tmp_path / "w2")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archive_source_strips_top_folder(tmp_path, kind):
    d = tmp_path / "proj-1.0"
    d.mkdir()
    (d / "m.py").write_text("y = 3\n")
    archive = tmp_path / f"proj.{kind}"
    if kind == "tar":
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(d, arcname="proj-1.0")
    else:
        with zipfile.ZipFile(archive, "w") as zf:
            zf.write(d / "m.py", "proj-1.0/m.py")
    out = checkout_task_repo(Task("t", extra={"repo_archive": str(archive)}), tmp_path / "w")
    assert (out / "m.py").read_text() == "y = 3\n"
    assert git(out, "rev-parse", "HEAD") == snapshot_commit(d)


def test_archive_with_escaping_member_is_refused(tmp_path):
    archive = tmp_path / "evil.tar"
    evil = tmp_path / "x.txt"
    evil.write_text("pwned")
    with tarfile.open(archive, "w") as tf:
        tf.add(evil, arcname="../../escaped.txt")
    with pytest.raises(RepoError, match="unsafe"):
        checkout_task_repo(Task("t", extra={"repo_archive": str(archive)}), tmp_path / "w")


def test_official_owner_name_repo_resolves_through_git_base(upstream, tmp_path, monkeypatch):
    src, base = upstream
    (tmp_path / "mirror" / "octo").mkdir(parents=True)
    shutil.copytree(src / ".git", tmp_path / "mirror" / "octo" / "lib.git")
    monkeypatch.setenv("PATCHLOOP_GIT_BASE", (tmp_path / "mirror").as_uri())
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path / "cache"))
    _assert_no_future(checkout_task_repo(Task("octo__lib-1", repo="octo/lib", base_commit=base), tmp_path / "w"), base)


@pytest.mark.parametrize("extra, match", [
    ({}, "no repo_path"),
    ({"repo_path": "/nonexistent/dir"}, "not a directory"),
    ({"repo_path": "no/such/relative"}, "not found"),
])
def test_bad_sources_name_the_cause(tmp_path, extra, match):
    with pytest.raises(RepoError, match=match):
        checkout_task_repo(Task("t", extra=extra), tmp_path / "w")


def test_missing_commit_is_an_error(upstream, tmp_path):
    src, _ = upstream
    with pytest.raises(RepoError, match="not found"):
        checkout_task_repo(Task("t", base_commit="0" * 40, extra={"repo_path": str(src)}), tmp_path / "w")


def test_builtin_instances_check_out_at_their_base(tmp_path):
    tasks = load_tasks("builtin")
    assert len(tasks) >= 6
    for task in tasks[:: 2]:
        out = checkout_task_repo(task, tmp_path / task.instance_id)
        assert git(out, "rev-parse", "HEAD") == task.base_commit
        git(out, "apply", "--check", "-", stdin=task.patch)  # raises RepoError if it does not apply


def test_builtin_instances_file_is_up_to_date():
    import sys

    script = Path(__file__).resolve().parents[2] / "examples" / "swe" / "build_instances.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
