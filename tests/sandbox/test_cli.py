"""`patchloop sandbox ...` through the real installed console script, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import docker.errors
import pytest

from tests.sandbox.backends import make_git_repo

PATCHLOOP = str(Path(sys.executable).parent / "patchloop")


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([PATCHLOOP, "sandbox", *args], check=False, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_git_repo(tmp_path_factory.mktemp("cli") / "repo", {"mod.py": "X = 41\n"})


@pytest.fixture(params=["local", "docker"])
def backend(request):
    if request.param == "docker":
        client = request.getfixturevalue("docker_client")
        from patchloop.sandbox.images import ensure_base_image

        ensure_base_image(client)  # build outside the CLI's timeout on a fresh machine
    return request.param


def test_json_result_and_exit_code_mirrored(backend, repo):
    out = cli("run", "--backend", backend, "--repo", str(repo), "--json", "--",
              "python3", "-c", "import mod, sys; print(mod.X + 1); print('e', file=sys.stderr); sys.exit(3)")
    assert out.returncode == 3, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1
    res = json.loads(lines[0])
    assert res["exit_code"] == 3 and res["stdout"] == "42\n" and res["stderr"] == "e\n"
    assert res["timed_out"] is False and res["truncated"] is False
    # the local backend says, once, that it is weaker isolation
    assert out.stderr.count("weaker isolation") == (1 if backend == "local" else 0)


def test_plain_output_and_shell_string(backend):
    out = cli("run", "--backend", backend, "--", "echo out; echo err >&2; exit 0")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "out\n"
    assert "err\n" in out.stderr


def test_timeout_is_reported_and_exits_124(backend):
    out = cli("run", "--backend", backend, "--timeout", "1", "--json", "--", "sleep 30")
    assert out.returncode == 124, out.stderr
    res = json.loads(out.stdout)
    assert res["timed_out"] is True and res["duration_s"] < 15


def test_fresh_sandbox_each_run(backend):
    # nothing one run writes is seen by the next
    assert cli("run", "--backend", backend, "--", "echo x > left.txt").returncode == 0
    out = cli("run", "--backend", backend, "--", "test -e left.txt")
    assert out.returncode == 1


def test_memory_limit_is_applied(docker_client):
    out = cli("run", "--backend", "docker", "--memory", "64m", "--json", "--",
              "python3", "-c", "b = bytearray(400 * 1024 * 1024); print('survived')")
    res = json.loads(out.stdout)
    assert "survived" not in res["stdout"]
    assert res["oom_killed"] is True and out.returncode == 137


def test_bad_arguments_fail_with_one_line():
    out = cli("run", "--backend", "local", "--memory", "lots", "--", "true")
    assert out.returncode == 2 and "not a size: 'lots'" in out.stderr
    out = cli("run", "--backend", "local", "--repo", "/no/such/dir", "--", "true")
    assert out.returncode == 2 and "--repo /no/such/dir: not a directory" in out.stderr


def test_gc_removes_a_leaked_container_and_keeps_live_ones(docker_client):
    from patchloop.sandbox.docker import owner_labels
    from patchloop.sandbox.images import ensure_base_image

    image = ensure_base_image(docker_client)
    # What a crashed run leaves: a labelled container whose owner process is gone.
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan_labels = {**owner_labels(), "patchloop.pid": str(dead.pid), "patchloop.task": "test-gc-orphan"}
    live_labels = {**owner_labels(), "patchloop.task": "test-gc-live"}  # this test process owns it
    made = [docker_client.containers.run(image, ["sleep", "infinity"], detach=True, network_mode="none",
                                         labels=labels) for labels in (orphan_labels, live_labels)]
    orphan, live = made
    try:
        listed = cli("ls")
        assert listed.returncode == 0 and live.short_id in listed.stdout
        assert "task=test-gc-live" in listed.stdout
        out = cli("gc")
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("removed ")
        ids = {c.id for c in docker_client.containers.list(all=True, filters={"label": "patchloop=1"})}
        # (another process's gc may have reaped the orphan first; either way it is gone)
        assert orphan.id not in ids
        assert live.id in ids
    finally:
        for c in made:
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True)


def test_build_commands_print_the_tags_they_reuse(docker_client):
    from patchloop.sandbox import images

    base = images.ensure_base_image(docker_client)
    out = cli("build-base")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == base
    env = images.ensure_env_image(["iniconfig==2.0.0"], base=base, client=docker_client)
    out = cli("build-env", "iniconfig==2.0.0")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == env
    # and the CLI can run in it
    out = cli("run", "--backend", "docker", "--image", env, "--", "python3 -c 'import iniconfig; print(1)'")
    assert out.returncode == 0 and out.stdout == "1\n", out.stderr


def test_auto_backend_picks_docker_when_an_engine_answers(docker_client):
    out = cli("run", "--json", "--", "id -u")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["stdout"] == "1000\n"  # the container's non-root user
    assert "weaker isolation" not in out.stderr
