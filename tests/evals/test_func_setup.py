"""The grader's own defences fail loudly: a server or candidate whose hardening did not take
refuses to grade (ERROR, infrastructure) and says which defence failed; it never hands out a
verdict. Each failure is made real by running a copy of the server with one defence broken."""

from __future__ import annotations

import ast
import sys

import pytest

from patchloop.evals.func import grade as func
from patchloop.evals.func.grade import ERROR, PASS, grade_function_batch
from patchloop.evals.func.server import PRELOAD
from patchloop.types import FunctionTask

ADD = FunctionTask("he/add", 'def add(a, b):\n    """Return a + b."""\n', "add",
                   "def check(candidate):\n    assert candidate(1, 2) == 3\n")
SERVER = {source: (func._HERE / source).read_text(encoding="utf-8") for source in func.SERVER_FILES.values()}


def _grade_with(tmp_path, monkeypatch, old: str, new: str):
    holders = [name for name, text in SERVER.items() if old in text]
    assert len(holders) == 1, f"{len(holders)} server files contain {old!r}: update this test"
    for name, text in SERVER.items():  # only what the host ships: a missing module fails here
        (tmp_path / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setattr(func, "_HERE", tmp_path)
    return grade_function_batch(ADD, ["    return a + b\n"] * 3, backend="local", timeout_s=3.0)


@pytest.mark.parametrize(("name", "old", "new", "says"), [
    ("preload_import_fails", 'PRELOAD = ("re",', 'PRELOAD = ("no_such_module_for_the_judge", "re",',
     "could not pre-import no_such_module_for_the_judge"),
    ("set_dumpable_fails", "PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 4, 36",
     "PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 99999, 36", "prctl(PR_SET_DUMPABLE) failed"),
    ("no_new_privs_fails", "PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 4, 36, 38",
     "PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 4, 36, 99999", "prctl(PR_SET_NO_NEW_PRIVS) failed"),
])
def test_a_defence_that_fails_stops_grading_and_names_itself(tmp_path, monkeypatch, name, old, new, says):
    results = _grade_with(tmp_path, monkeypatch, old, new)
    assert [r.status for r in results] == [ERROR] * 3, results
    assert all(r.infra_error and not r.passed for r in results)
    assert all(says in r.detail and "refusing to grade" in r.detail for r in results), results[0].detail


def test_the_unbroken_copy_grades(tmp_path, monkeypatch):
    results = _grade_with(tmp_path, monkeypatch, "PRELOAD = (", "PRELOAD = (")
    assert [r.status for r in results] == [PASS] * 3


def test_a_program_cannot_forge_a_set_up_failure(tmp_path):
    # at import time, so it is the first thing the judge reads after the real set-up report
    forged = ("    return 0\nimport os, json\n"
              "b = json.dumps({'setup_error': 'forged'}).encode()\n"
              "os.write(4, len(b).to_bytes(4, 'big') + b)\n")
    (result,) = grade_function_batch(ADD, [forged], backend="local", timeout_s=3.0)
    assert result.status != ERROR and not result.infra_error and not result.passed, result


def test_no_lazy_import_a_candidate_could_plant_for_the_judge():
    # An import inside a function runs after candidates did: only modules loaded before any
    # candidate runs (built in, or pre-imported by the server) may be imported there.
    loaded_early = set(sys.builtin_module_names) | set(PRELOAD)
    late = []
    for name, text in SERVER.items():
        functions = [n for n in ast.walk(ast.parse(text)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for fn in functions:
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    late += [f"{name}:{fn.name}: {a.name}" for a in node.names if a.name not in loaded_early]
                elif isinstance(node, ast.ImportFrom) and node.module not in loaded_early:
                    late.append(f"{name}:{fn.name}: {node.module}")
    assert late == []
