"""Sandbox images: tags are hashes of their inputs, images are reused, env images work.

The first run on a fresh machine builds the base image (~1 min, mmdebstrap) and one small
environment image (~30 s); later runs reuse both.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import threading
import time

import pytest

from patchloop.sandbox import images
from patchloop.sandbox.base import SandboxError
from patchloop.sandbox.docker import owner_labels

REQ = "iniconfig==2.0.0"  # tiny, pure python, on PyPI


@pytest.fixture(scope="session")
def base_image(docker_client):
    return images.ensure_base_image(docker_client)


@pytest.fixture(scope="session")
def env_image(docker_client, base_image):
    return images.ensure_env_image([REQ], base=base_image, client=docker_client)


def _in_image(client, image: str, script: str) -> tuple[int, str]:
    """Run a python snippet as the sandbox user, no network, in a throwaway labelled container."""
    c = client.containers.run(image, ["python3", "-c", script], detach=True, network_mode="none",
                              user="1000:1000", labels=owner_labels())
    try:
        code = c.wait(timeout=120)["StatusCode"]
        return code, c.logs().decode()
    finally:
        c.remove(force=True)


# ---------------------------------------------------------------- tags (no engine needed)


def test_base_tag_is_stable_and_follows_its_inputs():
    assert images.base_tag() == images.base_tag(images.base_recipe())
    assert images.base_tag().startswith("patchloop/base:")
    more = dict(images.base_recipe(), packages=sorted([*images.BASE_PACKAGES, "curl"]))
    other_suite = dict(images.base_recipe(), suite="trixie")
    assert len({images.base_tag(), images.base_tag(more), images.base_tag(other_suite)}) == 3


def test_env_tag_follows_base_requirements_and_setup():
    tag = images.env_tag("sha256:aaa", ["pytest==8.3.3", "iniconfig"], [])
    assert tag.startswith("patchloop/env:")
    # order and duplicates of requirements do not matter; setup order does
    assert tag == images.env_tag("sha256:aaa", ["iniconfig", "pytest==8.3.3", "iniconfig"], [])
    changed = [
        images.env_tag("sha256:bbb", ["pytest==8.3.3", "iniconfig"], []),
        images.env_tag("sha256:aaa", ["pytest==8.3.2", "iniconfig"], []),
        images.env_tag("sha256:aaa", ["pytest==8.3.3", "iniconfig"], ["echo a"]),
    ]
    assert tag not in changed and len(set(changed)) == 3
    assert images.env_tag("x", [], ["a", "b"]) != images.env_tag("x", [], ["b", "a"])


def test_missing_bootstrap_tool_gives_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither mmdebstrap nor debootstrap on PATH
    with pytest.raises(SandboxError) as err:
        images.rootfs_command(tmp_path / "rootfs.tar")
    assert "install mmdebstrap (apt-get install mmdebstrap)" in str(err.value)
    assert "\n" not in str(err.value)


def test_host_python_of_another_minor_is_refused():
    with pytest.raises(SandboxError, match=r"needs a host python2\.7 with pip"):
        images.host_pip_python("2.7")


def test_wheelhouse_is_built_once_under_parallel_callers(monkeypatch, tmp_path):
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path))
    results = []
    threads = [threading.Thread(target=lambda: results.append(images.ensure_wheelhouse([REQ])))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    house = results[0]
    assert [p.name for p in house.glob("*.whl")] == ["iniconfig-2.0.0-py3-none-any.whl"]
    assert (house / "requirements.txt").read_text() == REQ + "\n"
    logs = list((tmp_path / "wheelhouse").glob("*.log"))
    assert len(logs) == 1 and logs[0].read_text().count("$ ") == 1  # pip ran once
    # no half-built temp dirs are left next to it
    assert sorted(p.name for p in (tmp_path / "wheelhouse").iterdir()) == sorted([house.name, logs[0].name])


def test_build_lock_excludes_other_processes(monkeypatch, tmp_path):
    # Parallel pytest workers or batch processes must not build the same image twice at once.
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path))
    code = ("import sys\nfrom patchloop.sandbox.images import _build_lock\n"
            "with _build_lock('base'):\n    print('locked', flush=True)\n    sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with open(tmp_path / "locks" / "base.lock") as fh:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            holder.stdin.close()  # the holder finishes its "build"
            assert holder.wait(timeout=30) == 0
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # now free
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------- images (real engine)


def test_base_image_has_the_tools_and_a_non_root_user(docker_client, base_image):
    img = docker_client.images.get(base_image)
    assert img.labels["patchloop.python"] == images.PYTHON_VERSION
    assert img.attrs["Config"]["WorkingDir"] == "/workspace"
    code, out = _in_image(docker_client, base_image, (
        "import os, shutil, sys\n"
        "print(os.getuid(), '%d.%d' % sys.version_info[:2], os.getcwd(), os.access('.', os.W_OK))\n"
        "print(*[bool(shutil.which(t)) for t in ('git', 'patch', 'ps', 'pip3')])\n"
        "import venv\n"
    ))
    assert code == 0, out
    assert out.split("\n")[:2] == [f"1000 {images.PYTHON_VERSION} /workspace True", "True True True True"]


def test_base_image_is_reused_without_rebuild(docker_client, base_image):
    before = docker_client.images.get(base_image).id
    t0 = time.perf_counter()
    again = images.ensure_base_image(docker_client)
    assert again == base_image
    assert docker_client.images.get(again).id == before
    assert time.perf_counter() - t0 < 5  # a lookup, not a 30-60 s build


def test_env_image_has_the_requirement_and_is_reused(docker_client, base_image, env_image):
    assert env_image.startswith("patchloop/env:")
    code, out = _in_image(docker_client, env_image, "import iniconfig, sys; print(iniconfig.__file__, sys.prefix)")
    assert code == 0, out
    assert out.split() == ["/opt/venv/lib/python3.11/site-packages/iniconfig/__init__.py", "/opt/venv"]
    # the base does not have it: the env image is what installed it
    code, out = _in_image(docker_client, base_image, "import iniconfig")
    assert code != 0 and "ModuleNotFoundError" in out
    before = docker_client.images.get(env_image).id
    assert images.ensure_env_image([REQ], base=base_image, client=docker_client) == env_image
    assert docker_client.images.get(env_image).id == before


def test_env_build_error_is_one_line_with_a_log(docker_client, base_image):
    with pytest.raises(SandboxError) as err:
        images.ensure_env_image([], base=base_image, setup=["exit 3"], client=docker_client)
    msg = str(err.value)
    assert "docker build of patchloop/env:" in msg and "(log: " in msg and "\n" not in msg


def test_python_version_of_an_unlabelled_image_is_asked_from_the_image(docker_client, base_image):
    # A user's own --base image carries no patchloop.python label: the version comes from running it.
    tag = "patchloop/test-unlabelled:1"
    images._docker_build(docker_client, tag, f'FROM {base_image}\nLABEL patchloop.python=""', {}, labels={})
    try:
        assert docker_client.images.get(tag).labels.get("patchloop.python") == ""
        assert images.image_python(docker_client, tag) == images.PYTHON_VERSION
    finally:
        docker_client.images.remove(tag, force=True)
