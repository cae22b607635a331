"""A sandbox never outlives its owner: Ctrl-C, SIGTERM, an exception and a plain exit all
remove it (no ``__del__`` involved), and ``gc()`` removes what a SIGKILLed owner left."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from patchloop.sandbox.docker import gc
from tests.sandbox.backends import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
OWNER = """
import json, signal, sys
# a shell without job control starts background jobs with SIGINT ignored, and Python keeps that:
# the owner gets the default handler a user's terminal process has
signal.signal(signal.SIGINT, signal.default_int_handler)
from patchloop.sandbox import open_sandbox
backend, ending = sys.argv[1], sys.argv[2]
sb = open_sandbox(backend, task_id="cleanup-" + ending)
where = sb.container.name if backend == "docker" else str(sb.root)
print(json.dumps({"where": where, "pid": sb.ready_info["pid"]}), flush=True)
if ending == "exception":
    with sb:
        raise RuntimeError("the agent crashed")
if ending == "exit":
    sys.exit(0)  # no close(), no with: atexit must do it
sys.stdin.read()  # wait for a signal
"""


def _owner(backend: str, ending: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", OWNER, backend, ending], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # the sandbox is up once this line arrives
    assert line, proc.stderr.read()
    return proc, json.loads(line)["where"]


def _exists(request, backend: str, where: str) -> bool:
    if backend == "docker":
        client = request.getfixturevalue("docker_client")
        return bool(client.containers.list(all=True, filters={"name": f"^/{where}$"}))
    return Path(where).exists()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ending", ["sigint", "sigterm", "exception", "exit"])
def test_owner_ending_removes_the_sandbox(request, backend, ending):
    if backend == "docker":
        request.getfixturevalue("docker_client")
    proc, where = _owner(backend, ending)
    assert _exists(request, backend, where) or ending in ("exception", "exit")
    if ending in ("sigint", "sigterm"):
        proc.send_signal(signal.SIGINT if ending == "sigint" else signal.SIGTERM)
        # stdin stays open until the owner has ended: closing it first (as communicate() does)
        # let a slow owner read EOF and exit 0 before the signal was handled
        proc.wait(timeout=60)
    proc.communicate(timeout=60)
    assert proc.returncode != 0 or ending == "exit"
    assert not _exists(request, backend, where)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gc_removes_what_a_killed_owner_left(request, backend):
    if backend == "docker":
        request.getfixturevalue("docker_client")
    proc, where = _owner(backend, "sigkill")
    proc.kill()  # no handler, no atexit: the sandbox stays behind
    proc.communicate(timeout=60)
    assert _exists(request, backend, where)
    removed = gc()
    assert any(where in r for r in removed)
    assert not _exists(request, backend, where)


def test_gc_survives_a_container_removed_while_it_lists():
    """The SDK's full listing inspects every container and raises NotFound for one removed
    since; gc must list sparsely and treat a vanished container as already gone."""
    import docker.errors

    class Vanished:
        id, attrs = "abc123", {"Names": ["/patchloop-x"], "Labels": {"patchloop": "1"}}

        def remove(self, force):
            raise docker.errors.NotFound("No such container: abc123")

    class Containers:
        def list(self, all, filters, sparse=False):
            if not sparse:
                raise docker.errors.NotFound("No such container: abc123")
            return [Vanished()]

    class Volumes:
        def list(self, filters):
            return []

    class Client:
        containers, volumes = Containers(), Volumes()

    assert "patchloop-x" not in gc(all=True, client=Client())
