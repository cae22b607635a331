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
