"""Round-trip semantics, the same on both backends: commands, environment, files, the base
commit, reset and close."""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from patchloop.sandbox import DockerSandbox, LocalSandbox, SandboxError, open_sandbox
from patchloop.sandbox.patching import GIT_ENV
from tests.sandbox.backends import BACKENDS, assert_closed_clean, open_box


@pytest.fixture(scope="module", params=BACKENDS)
def box(request):
    sb = open_box(request, request.param, task_id=f"rt-{request.param}")
    yield sb
    sb.close()
    assert_closed_clean(request, sb)


@pytest.mark.parametrize(("cmd", "code", "out", "err"), [
    ("true", 0, "", ""),
    ("echo out; echo err >&2; exit 3", 3, "out\n", "err\n"),
    ("no-such-command-xyz", 127, "", "no-such-command-xyz: command not found"),
    ("kill -9 $$", 137, "", ""),
    ("cat; echo done", 0, "done\n", ""),  # stdin is /dev/null: cat returns at once
    ("printf 'h\\xc3\\xa9llo \\xe2\\x9c\\x93 \\xff'", 0, "héllo ✓ \ufffd", ""),
    ("echo 'ünïcödé ✓'", 0, "ünïcödé ✓\n", ""),
])
def test_command_results(box, cmd, code, out, err):
    res = box.run(cmd, timeout=30)
    assert res.exit_code == code and res.stdout == out and err in res.stderr, res
    assert not res.timed_out and not res.oom_killed and not res.truncated and res.cmd == cmd


def test_env_is_passed_and_the_host_environment_is_not(box, monkeypatch):
    monkeypatch.setenv("PATCHLOOP_HOST_SECRET", "do-not-leak")
    res = box.run('echo "$GREETING|${PATCHLOOP_HOST_SECRET:-none}|$PWD"', timeout=30, env={"GREETING": "hi"})
    assert res.stdout == f"hi|none|{box.workdir}\n"


def test_python_on_path(box):
    res = box.run("python3 -c 'import sys; print(sys.version_info >= (3, 11))'", timeout=30)
    assert res.stdout == "True\n", res
    if isinstance(box, LocalSandbox):  # the project's interpreter, with its dependencies
        assert box.run("python -c 'import pydantic'", timeout=30).ok


def test_binary_and_unicode_files_round_trip(box):
    blob = bytes(range(256)) * 64
    box.write_file("bin/blob.dat", blob)
    assert box.read_bytes("bin/blob.dat") == blob
    assert box.run("sha256sum bin/blob.dat", timeout=30).stdout.split()[0] == hashlib.sha256(blob).hexdigest()
    box.write_file(f"{box.tmpdir}/t.txt", "ünï ✓")  # outside the workspace, inside the sandbox
    assert box.read_file(f"{box.tmpdir}/t.txt") == "ünï ✓"
    assert box.run("stat -c %U bin/blob.dat", timeout=30).stdout == box.run("id -un", timeout=30).stdout
    with pytest.raises(FileNotFoundError):
        box.read_file("no/such/file")


def test_large_files_round_trip(box):
    """Docker sends small files over the runner and large ones as archives: both must hold."""
    big = os.urandom(3 * 1024 * 1024 + 7)
    box.write_file("data/big.bin", big)
    assert box.read_bytes("data/big.bin") == big
    assert box.run("stat -c %s data/big.bin", timeout=30).stdout.strip() == str(len(big))


def test_local_write_through_a_symlink_out_of_the_sandbox_is_refused():
    outside = Path(tempfile.mkdtemp(dir="/var/tmp"))  # not /tmp: that is the sandbox's own tmpfs
    try:
        with LocalSandbox(task_id="symlink-write") as sb:
            assert sb.run(f"ln -s {outside} out", timeout=30).ok
            with pytest.raises(PermissionError):
                sb.write_file("out/pwned", "x")
            with pytest.raises(PermissionError):
                sb.read_file("/etc/hostname")
        assert not (outside / "pwned").exists()
    finally:
        shutil.rmtree(outside)


def _make_tree(root, with_git: bool):
    root.mkdir()
    (root / "pkg").mkdir()
    (root / "pkg" / "a.py").write_text("A = 1\n")
    (root / "link").symlink_to("pkg/a.py")
    if with_git:
        subprocess.run("git init -q . && git add -A && git commit -q -m host-base", shell=True, cwd=root,
                       check=True, env={**os.environ, **GIT_ENV})
        (root / "dirty.txt").write_text("uncommitted\n")


@pytest.mark.parametrize("backend", BACKENDS)
def test_repo_copy_and_base_commit(request, backend, tmp_path):
    git_repo, plain = tmp_path / "git", tmp_path / "plain"
    _make_tree(git_repo, True)
    _make_tree(plain, False)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=git_repo, capture_output=True, text=True, check=True).stdout.strip()
    with open_box(request, backend, repo=str(git_repo)) as sb:
        assert sb.base_commit == head  # a git repo keeps its HEAD as the base
        assert sb.read_file("link") == "A = 1\n" and sb.run("test -L link", timeout=30).ok
        assert "dirty.txt" in sb.diff()  # uncommitted host changes count as changes
    with open_box(request, backend, repo=str(plain)) as a, open_box(request, backend, repo=str(plain)) as b:
        # no .git: one commit with a fixed author and date, so the same tree gives the same base
        assert a.base_commit == b.base_commit and a.diff() == ""
        assert a.run("git log --format='%an %ad' --date=iso", timeout=30).stdout.startswith("patchloop 2000-01-01")


def test_reset_restores_the_base_and_kills_leftovers(box):
    box.write_file("scratch.txt", "x")
    assert box.run("git commit -qam 'model commit' --allow-empty && mkdir -p build && touch build/o", timeout=30,
                   env=GIT_ENV).ok
    box.reset()
    assert box.run("git rev-parse HEAD", timeout=30).stdout.strip() == box.base_commit
    assert box.run("ls -A | grep -v '^.git$'", timeout=30).stdout == ""


def test_git_settings_planted_by_one_task_do_not_reach_the_next(box):
    """A pooled sandbox's next task must neither run code the last one planted in git's
    config nor have its new files hidden from ``diff()`` by a planted exclude rule."""
    planted = ("echo '*.py' >> .git/info/exclude && git config core.fsmonitor 'echo planted >&2; false' && "
               "mkdir -p .git/hooks && printf '#!/bin/sh\necho hook-ran >&2\n' > .git/hooks/pre-commit && "
               "chmod +x .git/hooks/pre-commit && git config alias.st status")
    assert box.run(planted, timeout=30).ok
    box.reset()
    box.write_file("fix.py", "print('fixed')\n")
    assert "fix.py" in box.diff()
    status = box.run("git status --short && git config --get core.fsmonitor; git config --get alias.st", timeout=30)
    assert "planted" not in status.output and "status" not in status.stdout, status
    assert box.run("test -e .git/hooks/pre-commit", timeout=30).exit_code == 1
    box.reset()


def test_close_is_idempotent_and_a_closed_sandbox_refuses_work(request):
    for backend in BACKENDS:
        sb = open_box(request, backend, task_id="close-twice")
        sb.close()
        sb.close()
        assert_closed_clean(request, sb)
        with pytest.raises(SandboxError):
            sb.run("true", timeout=5)


def test_open_sandbox_picks_docker_when_an_engine_answers(request):
    request.getfixturevalue("docker_client")
    with open_sandbox("auto", task_id="auto") as sb:
        assert isinstance(sb, DockerSandbox)
    with pytest.raises(ValueError, match="unknown sandbox backend"):
        open_sandbox("chroot")


def test_docker_round_trip_is_fast(request):
    """The point of the runner: far below a `docker exec` (150-500 ms). Goal <10 ms p50 (bench)."""
    with open_box(request, "docker", task_id="speed") as sb:
        times = []
        for _ in range(60):
            t = time.perf_counter()
            assert sb.run("true", timeout=10).ok
            times.append(time.perf_counter() - t)
    assert statistics.median(times) < 0.025, statistics.median(times)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dead_runner_is_a_loud_typed_error_and_close_still_cleans(request, backend):
    sb = open_box(request, backend, task_id="dead-runner")
    with sb:
        if backend == "docker":
            sb.container.kill()
        else:
            sb.proc.kill()
        with pytest.raises(SandboxError, match="dead-runner"):
            sb.run("true", timeout=5)
        with pytest.raises(SandboxError, match="broken"):
            sb.run("true", timeout=5)
    assert_closed_clean(request, sb)


def test_bad_file_paths_are_the_callers_errors_not_sandbox_errors(box):
    box.write_file("plain.txt", "keep me")
    with pytest.raises(FileExistsError):
        box.write_file("plain.txt/child", "x")  # never replaces the file with a directory
    assert box.read_file("plain.txt") == "keep me"
    with pytest.raises(IsADirectoryError):
        box.write_file(".", "x")
    with pytest.raises(IsADirectoryError):
        box.read_file(".")
    with pytest.raises(PermissionError if box.backend == "local" else OSError):
        box.write_file("/etc/passwd", "root::0:0::/:/bin/sh\n")
    assert box.run("true", timeout=10).ok  # and the sandbox is fine afterwards


def test_local_sandbox_keeps_an_environment_under_tmp_visible_and_read_only(monkeypatch):
    """A checkout (and its .venv) under /tmp must not vanish behind the sandbox's fresh /tmp,
    or `python` inside the sandbox stops existing; it must not become writable either."""
    import patchloop.sandbox.local as local

    env_dir = Path(tempfile.mkdtemp(dir="/tmp", prefix="pl-env-"))
    try:
        (env_dir / "marker.txt").write_text("visible")
        monkeypatch.setattr(local, "_python_dirs_under_tmp", lambda: [str(env_dir)])
        with LocalSandbox(task_id="keep-under-tmp") as sb:
            namespaced = bool(sb.prefix)  # without namespaces /tmp is not hidden at all
            res = sb.run(f"cat {env_dir}/marker.txt && touch {env_dir}/new 2>&1; touch $TMPDIR/ok && echo tmp-ok",
                         timeout=30)
        assert res.stdout.startswith("visible") and "tmp-ok" in res.stdout, res
        if namespaced:
            assert "Read-only file system" in res.stdout, res
            assert not (env_dir / "new").exists()
    finally:
        shutil.rmtree(env_dir)


def test_python_dirs_under_tmp_lists_outermost_dirs_only(monkeypatch):
    import sys

    import patchloop.sandbox.local as local

    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="pl-clone-"))
    try:
        (base / ".venv" / "bin").mkdir(parents=True)
        monkeypatch.setattr(sys, "prefix", str(base / ".venv"))
        monkeypatch.setattr(sys, "executable", str(base / ".venv" / "bin" / "python"))
        monkeypatch.setattr(sys, "path", [str(base), str(base / ".venv"), "/usr/lib/python3"])
        assert local._python_dirs_under_tmp() == [str(base)]
    finally:
        shutil.rmtree(base)
