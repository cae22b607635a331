"""A real LocalSandbox and the evaluation grader on it, shared by the datagen tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def grader():
    from patchloop.evals.func import grade_function_batch
    from patchloop.sandbox import open_sandbox

    with open_sandbox("local", task_id="datagen-instruct-tests") as sb:
        def grade(tasks, completions):
            return grade_function_batch(tasks, completions, sandbox=sb, timeout_s=2.0)
        yield grade


REAL_MODEL = "qwen2.5-coder-0.5b-instruct"


def _flag(name: str) -> bool:
    import os

    return os.environ.get(name, "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def real_model_dir():
    """The fetched 0.5B Instruct checkpoint. Opt-in, since real decoding on a shared CPU takes
    minutes: runs with PATCHLOOP_REALMODEL=1 (skips, saying why, where the model is missing)
    or PATCHLOOP_REQUIRE_REALMODEL=1 (fails where it is missing)."""
    import os
    from pathlib import Path

    if not (_flag("PATCHLOOP_REALMODEL") or _flag("PATCHLOOP_REQUIRE_REALMODEL")):
        pytest.skip("real-model tests are opt-in: set PATCHLOOP_REALMODEL=1")
    cache = Path(os.environ.get("PATCHLOOP_CACHE", Path.home() / ".cache" / "patchloop"))
    path = cache / "models" / REAL_MODEL / "hf"
    if not (path / "config.json").exists():
        if _flag("PATCHLOOP_REQUIRE_REALMODEL"):
            pytest.fail(f"PATCHLOOP_REQUIRE_REALMODEL=1 but {path} is missing: run `patchloop model fetch {REAL_MODEL}`")
        pytest.skip(f"{REAL_MODEL} not fetched ({path})")
    return path


@pytest.fixture(scope="session")
def served_real_model(real_model_dir, tmp_path_factory):
    """``patchloop serve`` over the real model on 127.0.0.1; yields the /v1 URL."""
    import signal
    import subprocess
    import sys

    err = open(tmp_path_factory.mktemp("serve") / "stderr.txt", "w+")  # noqa: SIM115 -- lives with the server
    proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", str(real_model_dir), "--port", "0",
                             "--name", REAL_MODEL], stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        err.seek(0)
        pytest.fail(f"serve did not start: {line!r} {err.read()[-2000:]}")
    yield line.split(" at ")[-1].strip()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    err.close()
