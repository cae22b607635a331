"""A real LocalSandbox and the evaluation grader on it, shared by the datagen tests."""

from __future__ import annotations

import json

import pytest

SEED_CODE = "\n".join(f"def helper_{i}(x):\n    return x + {i}\n" for i in range(10))


@pytest.fixture
def seeds(tmp_path):
    """One seed file of OSS-Instruct input: a MIT-licensed module of ten small functions."""
    path = tmp_path / "seeds.jsonl"
    path.write_text(json.dumps({"id": "pkg==1.0:pkg/mod.py", "package": "pkg", "version": "1.0",
                                "licence": "MIT", "path": "pkg/mod.py", "text": SEED_CODE}) + "\n")
    return path


@pytest.fixture(scope="module")
def grader():
    from patchloop.evals.func.grade import grade_function_batch
    from patchloop.sandbox import open_sandbox

    with open_sandbox("local", task_id="datagen-instruct-tests") as sb:
        def grade(tasks, completions):
            return grade_function_batch(tasks, completions, sandbox=sb, timeout_s=2.0)
        yield grade


@pytest.fixture(scope="session")
def served_real_model(real_model_dir, tmp_path_factory):
    """``patchloop serve`` over the real model on 127.0.0.1; yields the /v1 URL."""
    import signal
    import subprocess
    import sys

    err = open(tmp_path_factory.mktemp("serve") / "stderr.txt", "w+")  # noqa: SIM115 -- lives with the server
    proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", str(real_model_dir), "--port", "0",
                             "--name", "qwen2.5-coder-0.5b-instruct"], stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        err.seek(0)
        pytest.fail(f"serve did not start: {line!r} {err.read()[-2000:]}")
    yield line.split(" at ")[-1].strip()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    err.close()
