"""Build ``examples/swe/instances.jsonl`` from the sample repositories and ``specs.py``.

The committed code under ``examples/repos/<name>/`` is the buggy base. For each spec this
script snapshots the repo (``patchloop.evals.repos``: one root commit with fixed author and
date, so ``base_commit`` is a function of the files), applies the gold fix and the new tests
as string edits, takes ``patch`` and ``test_patch`` from ``git diff``, and derives
FAIL_TO_PASS / PASS_TO_PASS the way SWE-bench does: run the suite with the test patch
before and after the fix and compare per-test status. It refuses to write an instance whose
derived FAIL_TO_PASS differs from the one the spec declares, so the file cannot drift from
the intent. Runs our own example code on the host (trusted, written by this project).

    .venv/bin/python examples/swe/build_instances.py          # rewrite instances.jsonl
    .venv/bin/python examples/swe/build_instances.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from specs import SPECS

from patchloop.evals.junit import junit_key, parse_junit
from patchloop.evals.repos import _commit_snapshot, _copy_snapshot, git
from patchloop.types import write_jsonl

REPOS = HERE.parent / "repos"


def _edit(root: Path, edits: list[tuple[str, str | None, str]]) -> None:
    for path, old, new in edits:
        f = root / path
        text = f.read_text() if f.exists() else ""
        if old is None:  # append (or create)
            text = text + new
        else:
            if text.count(old) != 1:
                raise SystemExit(f"{path}: edit anchor found {text.count(old)} times: {old!r}")
            text = text.replace(old, new)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)


def _diff(root: Path) -> str:
    git(root, "add", "-A")
    # strip=False: stripping would eat a trailing blank context line and corrupt the hunk
    out = git(root, "diff", "--cached", "--no-color", "--no-ext-diff", "HEAD", strip=False)
    git(root, "reset", "-q", "--hard", "HEAD")
    git(root, "clean", "-qfdx")
    return out


def _statuses(root: Path) -> dict[tuple[str, str], str]:
    xml = root.parent / "report.xml"
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                    "-o", "junit_family=xunit1"], cwd=root, env=env, capture_output=True, check=False)
    return parse_junit(xml.read_bytes())


def _node_ids(root: Path) -> list[str]:
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider"],
                         cwd=root, env=env, capture_output=True, text=True, check=False).stdout
    return [line.strip() for line in out.splitlines() if "::" in line]


def build_one(spec: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="patchloop-build-") as tmp:
        root = Path(tmp) / "repo"
        _copy_snapshot(REPOS / spec["repo"], root)
        base = _commit_snapshot(root)
        _edit(root, spec["fix"])
        patch = _diff(root)
        _edit(root, spec["tests"])
        test_patch = _diff(root)
        _edit(root, spec["tests"])
        ids = _node_ids(root)
        before = _statuses(root)
        _edit(root, spec["fix"])
        after = _statuses(root)
    f2p = [i for i in ids if after.get(junit_key(i)) == "PASSED" and before.get(junit_key(i)) != "PASSED"]
    p2p = [i for i in ids if after.get(junit_key(i)) == "PASSED" and before.get(junit_key(i)) == "PASSED"]
    if sorted(f2p) != sorted(spec["FAIL_TO_PASS"]):
        raise SystemExit(f"{spec['instance_id']}: derived FAIL_TO_PASS {f2p} != declared {spec['FAIL_TO_PASS']}")
    if len(f2p) + len(p2p) != len(ids):
        raise SystemExit(f"{spec['instance_id']}: tests failing after the fix: {set(ids) - set(f2p) - set(p2p)}")
    return {
        "instance_id": spec["instance_id"],
        "repo": f"patchloop-examples/{spec['repo']}",
        "base_commit": base,
        "problem_statement": spec["problem_statement"].strip() + "\n",
        "patch": patch,
        "test_patch": test_patch,
        "FAIL_TO_PASS": f2p,
        "PASS_TO_PASS": p2p,
        "version": "0.1",
        "environment_setup_commit": base,
        "repo_path": f"../repos/{spec['repo']}",
        "requirements": ["pytest"],
    }


def main() -> int:
    rows = [build_one(spec) for spec in SPECS]
    target = HERE / "instances.jsonl"
    if "--check" in sys.argv:
        import json

        current = [json.loads(line) for line in target.read_text().splitlines() if line.strip()]
        if current != rows:
            print(f"{target} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{target}: up to date ({len(rows)} instances)")
        return 0
    write_jsonl(target, rows)
    print(f"wrote {len(rows)} instances to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
