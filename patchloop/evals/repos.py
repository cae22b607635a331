"""Materialise a task's repository at ``base_commit`` with no history an agent could read a fix from.

Sources (fields of ``Task.extra``, first one present wins):

- ``repo_path``: a local directory. Relative paths resolve against the dataset file's
  directory (``extra["_dataset_dir"]``, set by ``datasets.load_tasks``), then the project root.
  A git repository serves ``base_commit`` (``HEAD`` when empty); a plain directory is a
  *snapshot* (below).
- ``repo_url``: a git URL (``https://``, ``ssh``, ``file://``), cloned once as a mirror under
  ``~/.cache/patchloop/repos`` (``PATCHLOOP_CACHE`` overrides ``~/.cache/patchloop``) and
  refreshed only when ``base_commit`` is missing from it.
- ``repo_archive``: a ``.tar*``/``.zip`` file (one top-level folder is stripped, as in GitHub
  archives); treated as a snapshot.
- ``repo_sdist``: a PyPI release ``NAME==VERSION`` (``repo_sdist_sha256`` pins its file),
  fetched once per machine and treated as a snapshot; a ``base_commit`` other than the
  snapshot's is a bug ``datagen repos`` injected: the instance's gold patch reverted on the
  snapshot, committed as a snapshot is, must give exactly that id (``_sdist_bug``).
- none of these, and ``repo`` is ``owner/name`` (as in official SWE-bench files): the URL
  ``$PATCHLOOP_GIT_BASE/owner/name.git`` (default base ``https://github.com``; point it at a
  local mirror directory as ``file:///...`` to work offline).

Two ways to drop the future, both checked by tests:

- git sources keep the real commit id: the workspace is a fresh ``git init`` that fetches
  exactly ``base_commit`` with ``--depth 1 --no-tags`` from the source (or the cached mirror).
  Only the base tree's objects travel; later commits, tags, branches, stashes and packed refs
  of the source are never copied; the remote, ``FETCH_HEAD`` and reflogs are removed.
- snapshots (plain dirs, archives) become a repo whose single root commit has fixed author,
  committer, date and message, so its id depends on the file contents (and exec bits) only:
  ``snapshot_commit(dir)`` computes it, and that id is the instance's ``base_commit``. An empty
  ``base_commit`` accepts whatever the snapshot is; a different id is an error (the directory
  changed since the instance was written).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

from patchloop.types import Task

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Fixed identity and date: a snapshot commit's id is a function of its tree alone.
_SNAPSHOT_ENV = {
    "GIT_AUTHOR_NAME": "patchloop",
    "GIT_AUTHOR_EMAIL": "patchloop@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "patchloop",
    "GIT_COMMITTER_EMAIL": "patchloop@localhost",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
SNAPSHOT_MESSAGE = "patchloop base snapshot\n"
# Build litter that must not change a snapshot's id.
_IGNORED = {".git", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", ".venv"}


class RepoError(RuntimeError):
    """The repository of a task cannot be materialised (bad source, missing commit, git failure)."""


def _git_env() -> dict[str, str]:
    # The user's global config (signing, hooks, templates, autocrlf) must not change results.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    return env


def git(cwd: Path | str, *args: str, env: dict[str, str] | None = None, check: bool = True,
        strip: bool = True, stdin: str | None = None) -> str:
    """Run real git without the user's config; raise ``RepoError`` with its stderr on failure.
    ``strip=False`` keeps output byte-exact (a diff's trailing blank context line matters)."""
    full = _git_env() | (env or {})
    proc = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, env=full, capture_output=True, text=True, check=False, input=stdin,
    )
    if check and proc.returncode != 0:
        raise RepoError(f"git {' '.join(args[:3])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip() if strip else proc.stdout


def _copy_snapshot(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True,
                    ignore=lambda _d, names: [n for n in names if n in _IGNORED or n.endswith(".pyc")])


def _commit_snapshot(dest: Path) -> str:
    git(dest, "init", "-q", "--template=", "-b", "main")
    git(dest, "config", "core.logAllRefUpdates", "false")
    git(dest, "add", "-A", "--force")
    git(dest, "commit", "-q", "--allow-empty", "--no-verify", "-m", SNAPSHOT_MESSAGE, env=_SNAPSHOT_ENV)
    return git(dest, "rev-parse", "HEAD")


def snapshot_commit(src: str | Path) -> str:
    """The commit id a plain directory gets as a snapshot (computed in a scratch copy)."""
    with tempfile.TemporaryDirectory(prefix="patchloop-snap-") as tmp:
        work = Path(tmp) / "repo"
        _copy_snapshot(Path(src), work)
        return _commit_snapshot(work)


def _scrub(dest: Path) -> None:
    """Remove every pointer to anything but HEAD: remotes, FETCH_HEAD, reflogs, stray objects."""
    for name in ("FETCH_HEAD", "ORIG_HEAD", "packed-refs"):
        (dest / ".git" / name).unlink(missing_ok=True)
    for remote in git(dest, "remote").split():
        git(dest, "remote", "remove", remote)
    shutil.rmtree(dest / ".git" / "logs", ignore_errors=True)
    git(dest, "gc", "-q", "--prune=now")


def _fetch_commit(source_url: str, commit: str, dest: Path) -> str:
    """Fresh repo in ``dest`` holding only ``commit`` (depth 1), checked out on ``main``."""
    git(dest, "init", "-q", "--template=", "-b", "main")
    git(dest, "config", "core.logAllRefUpdates", "false")
    # Fetching by id needs the serving side to allow it; for local/file:// sources the
    # upload-pack runs here, so we can switch that on. Hosted forges (GitHub) allow it already.
    upload = "git -c uploadpack.allowAnySHA1InWant=true upload-pack"
    git(dest, "fetch", "-q", "--depth", "1", "--no-tags", f"--upload-pack={upload}", source_url, commit)
    sha = git(dest, "rev-parse", "FETCH_HEAD^{commit}")
    git(dest, "reset", "-q", "--hard", sha)
    _scrub(dest)
    return sha


def _resolve_path(raw: str, task: Task) -> Path:
    path = Path(os.path.expanduser(raw))
    if path.is_absolute():
        return path
    bases = [task.extra.get("_dataset_dir"), PROJECT_ROOT]
    for base in [b for b in bases if b]:
        candidate = (Path(base) / path).resolve()
        if candidate.exists():
            return candidate
    raise RepoError(f"repo_path {raw!r} not found (looked in {', '.join(str(b) for b in bases if b)})")


def cache_root() -> Path:
    base = os.environ.get("PATCHLOOP_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "patchloop")
    return Path(base) / "repos"


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # parallel workers share one mirror per repo
        yield


def cached_mirror(url: str, commit: str = "") -> Path:
    """A bare mirror of ``url`` in the cache that contains ``commit`` (fetched if missing)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", url.rstrip("/").split("/")[-1])[:60]
    mirror = cache_root() / f"{slug}-{hashlib.sha256(url.encode()).hexdigest()[:12]}.git"
    with _locked(mirror):
        if not mirror.exists():
            tmp = mirror.with_name(mirror.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            git(mirror.parent, "clone", "-q", "--mirror", url, str(tmp))
            tmp.rename(mirror)
        elif commit and not _has_commit(mirror, commit):
            git(mirror, "fetch", "-q", "--prune", "origin")
    return mirror


def _has_commit(repo: Path, commit: str) -> bool:
    return bool(git(repo, "rev-parse", "-q", "--verify", f"{commit}^{{commit}}", check=False))


def _extract_archive(archive: Path, out: Path) -> Path:
    """Unpack safely (no absolute paths, no ``..``, no links out); strip one top folder."""
    out.mkdir(parents=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name.startswith("/") or ".." in Path(name).parts:
                    raise RepoError(f"{archive}: unsafe member {name!r}")
            zf.extractall(out)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            try:
                tf.extractall(out, filter="data")  # rejects escapes and device files
            except tarfile.FilterError as e:
                raise RepoError(f"{archive}: unsafe member ({e})") from None
    else:
        raise RepoError(f"{archive}: not a tar or zip archive")
    entries = [p for p in out.iterdir() if p.name not in _IGNORED]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else out


def _check_snapshot(task: Task, sha: str, what: str) -> str:
    if task.base_commit and task.base_commit not in ("HEAD", sha):
        raise RepoError(
            f"{what}: snapshot commit is {sha}, but base_commit is {task.base_commit} "
            "(the directory changed since the instance was written?)"
        )
    return sha


def checkout_task_repo(task: Task, dest: str | Path) -> Path:
    """Make ``dest`` (absent or empty) a git repo at the task's base with no later history.

    Returns ``dest``. Raises ``RepoError`` naming the source and cause.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise RepoError(f"{dest}: destination is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    extra = task.extra
    commit = task.base_commit if task.base_commit not in ("", "HEAD") else ""
    if extra.get("repo_path"):
        src = _resolve_path(str(extra["repo_path"]), task)
        if not src.is_dir():
            raise RepoError(f"repo_path {src} is not a directory")
        if (src / ".git").exists():
            want = commit or git(src, "rev-parse", "HEAD")
            if not _has_commit(src, want):
                raise RepoError(f"repo_path {src}: commit {want} not found")
            _fetch_commit(src.as_uri(), git(src, "rev-parse", f"{want}^{{commit}}"), dest)
            return dest
        _copy_snapshot(src, dest)
        _check_snapshot(task, _commit_snapshot(dest), f"repo_path {src}")
        return dest
    if extra.get("repo_url"):
        url = str(extra["repo_url"])
        mirror = cached_mirror(url, commit)
        want = commit or git(mirror, "rev-parse", "HEAD")
        if not _has_commit(mirror, want):
            raise RepoError(f"repo_url {url}: commit {want} not found")
        _fetch_commit(mirror.as_uri(), git(mirror, "rev-parse", f"{want}^{{commit}}"), dest)
        return dest
    if extra.get("repo_archive"):
        archive = _resolve_path(str(extra["repo_archive"]), task)
        with tempfile.TemporaryDirectory(prefix="patchloop-archive-") as tmp:
            top = _extract_archive(archive, Path(tmp) / "x")
            _copy_snapshot(top, dest)
        _check_snapshot(task, _commit_snapshot(dest), f"repo_archive {archive}")
        return dest
    if extra.get("repo_sdist"):
        return _sdist_checkout(task, dest, commit)
    if re.fullmatch(r"[\w.-]+/[\w.-]+", task.repo or ""):
        base = os.environ.get("PATCHLOOP_GIT_BASE", "https://github.com").rstrip("/")
        return checkout_task_repo(Task(task.instance_id, task.repo, task.base_commit,
                                       extra={"repo_url": f"{base}/{task.repo}.git"}), dest)
    raise RepoError(f"instance {task.instance_id}: no repo_path, repo_url or repo_archive field, "
                    "and repo is not owner/name")


def _sdist_checkout(task: Task, dest: Path, commit: str) -> Path:
    """``repo_sdist``: the release as a snapshot, then, for a bug instance, the bug (module doc)."""
    from patchloop.evals.sdists import SourceError, download_sdist, parse_package_spec

    spec = str(task.extra["repo_sdist"])
    try:
        archive = download_sdist(*parse_package_spec(spec))
    except SourceError as e:
        raise RepoError(f"instance {task.instance_id}: repo_sdist {e}") from None
    pinned = str(task.extra.get("repo_sdist_sha256") or "")
    if pinned and hashlib.sha256(archive.read_bytes()).hexdigest() != pinned:
        raise RepoError(f"instance {task.instance_id}: repo_sdist {spec}: {archive.name} is not the file the "
                        f"instance pins (sha256 {pinned[:16]}...)")
    with tempfile.TemporaryDirectory(prefix="patchloop-archive-") as tmp:
        _copy_snapshot(_extract_archive(archive, Path(tmp) / "x"), dest)
    base = _commit_snapshot(dest)
    if commit and commit != base:
        _sdist_bug(task, dest, base, commit, spec)
    return dest


def _sdist_bug(task: Task, dest: Path, base: str, commit: str, spec: str) -> None:
    """Check out the bug: the gold patch reverted on ``base``, committed with the snapshot's
    identity (as ``datagen repos`` wrote it), which must be ``commit``; the fixed base is then
    pruned, so no object of the fix stays in the repository."""
    with tempfile.TemporaryDirectory(prefix="patchloop-bug-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git(dest, "read-tree", base, env=env)
        try:
            git(dest, "apply", "--cached", "-R", "-", env=env, stdin=task.patch)
        except RepoError as e:
            raise RepoError(f"instance {task.instance_id}: repo_sdist {spec}: its patch does not revert on the "
                            f"release ({e})") from None
        tree = git(dest, "write-tree", env=env)
    buggy = git(dest, "commit-tree", tree, "-m", SNAPSHOT_MESSAGE.strip(), env=_SNAPSHOT_ENV)
    if buggy != commit:
        raise RepoError(f"instance {task.instance_id}: repo_sdist {spec} with its patch reverted is commit "
                        f"{buggy}, not base_commit {commit}")
    git(dest, "reset", "-q", "--hard", buggy)
    _scrub(dest)

