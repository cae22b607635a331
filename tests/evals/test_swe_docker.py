"""The SWE harness on the real Docker engine: every verdict in one shared-image run, and
a CLI run killed midway that resumes to the same report as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from patchloop.evals.datasets import load_predictions, load_tasks
from patchloop.evals.run import run_swe_eval
from patchloop.types import Prediction
from tests.evals.swe_helpers import builtin, make_patch

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]


def test_every_verdict_on_docker(docker_client, tmp_path):
    ids = ["textkit-1", "textkit-2", "intervals-1", "intervals-2", "vertools-1", "vertools-2"]
    tasks = [builtin(i) for i in ids]
    t = {x.instance_id: x for x in tasks}
    preds = {
        "textkit-1": t["textkit-1"].patch,
        "textkit-2": "",
        "intervals-1": make_patch(t["intervals-1"], {"intervals/core.py": ("return self.end - self.start",
                                                                           "return self.end - self.start + 1")},
                                  gold=True),
        "intervals-2": t["intervals-2"].patch.replace("-    if not merged:", "-    if not merged_:"),
        "vertools-1": make_patch(t["vertools-1"], {"vertools/version.py": ("if not isinstance(other, Version):",
                                                                           ("while True:\n            pass\n"
                                                                            "        if not isinstance(other, Version):"))}),
        "vertools-2": t["vertools-2"].patch,
    }
    predictions = {k: Prediction(k, v, "test") for k, v in preds.items()}
    report = run_swe_eval(tasks, predictions, tmp_path / "run", workers=2, backend="docker", timeout=15,
                          progress=False)
    assert report["resolved_ids"] == ["textkit-1", "vertools-2"]
    assert report["empty_patch_ids"] == ["textkit-2"]
    assert report["unresolved_ids"] == ["intervals-1"]
    assert report["patch_failed_ids"] == ["intervals-2"]
    assert report["timeout_ids"] == ["vertools-1"]
    assert report["error_ids"] == []
    assert report["completed_ids"] == ["intervals-1", "textkit-1", "vertools-2"]
    results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    by_id = {r["instance_id"]: r for r in results}
    assert by_id["textkit-1"]["backend"] == "docker"
    # parametrized ids with '+', '.', '-' and brackets came back from the container's JUnit XML
    assert by_id["vertools-2"]["tests"]["tests/test_version.py::test_build_metadata[1.2.3+build.5-build.5]"] == "PASSED"
    assert "PASS_TO_PASS broken" in by_id["intervals-1"]["reason"]
    assert (tmp_path / "run" / "report.md").read_text().count("| resolved | 2 |") == 1


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    """Poll a condition (not a blind sleep) until it holds, the process ends, or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "the run ended before the condition held"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_resume_after_kill_gives_the_same_report(docker_client, tmp_path):
    tasks = load_tasks("builtin")
    gold = load_predictions("gold", tasks)
    preds = [{"instance_id": t.instance_id, "model_name_or_path": "m",
              "model_patch": gold[t.instance_id].model_patch if i % 3 else ""} for i, t in enumerate(tasks)]
    assert tasks[1].instance_id == "textkit-2"
    preds[1]["model_patch"] = preds[1]["model_patch"].replace("-    out = []", "-    out = ()")  # does not apply
    pfile = tmp_path / "preds.jsonl"
    pfile.write_text("".join(json.dumps(p) + "\n" for p in preds))
    cmd = [sys.executable, "-m", "patchloop", "eval", "swe", "-d", "builtin", "-p", str(pfile), "-r", "r1",
           "--runs-dir", str(tmp_path / "runs"), "--backend", "docker", "--no-progress", "--workers", "1"]
    results = tmp_path / "runs" / "r1" / "results.jsonl"
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # wait until a graded (non-empty-patch) result is on disk, then kill the whole run
        _wait_for(lambda: results.exists() and '"docker"' in results.read_text(), 300, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    first = results.read_text().splitlines()
    assert 1 <= len(first) < len(tasks)
    assert not (tmp_path / "runs" / "r1" / "report.json").exists()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    lines = results.read_text().splitlines()
    assert len(lines) == len(tasks)  # nothing finished before the kill was evaluated again
    assert lines[: len(first)] == first
    resumed = json.loads((tmp_path / "runs" / "r1" / "report.json").read_text())
    # the same predictions, uninterrupted (in-process, local backend): the same verdicts
    reference = run_swe_eval(tasks, load_predictions(pfile, tasks), tmp_path / "ref", backend="local",
                             progress=False)
    keys = [k for k in reference if k.endswith(("_ids", "_instances"))]
    assert {k: resumed[k] for k in keys} == {k: reference[k] for k in keys}
    assert resumed["resolved_instances"] == sum(1 for i, _ in enumerate(tasks) if i % 3 and i != 1)
    assert resumed["patch_failed_ids"] == ["textkit-2"]
    assert len(resumed["empty_patch_ids"]) == len(range(0, len(tasks), 3))
