"""The single-turn repair view of a repository instance: the prompt shows the issue and the code
the agent's opening message shows, the row carries what the grader needs, and one bad
instance is reported without stopping the rest."""

from __future__ import annotations

from patchloop.agent.context import counter
from patchloop.agent.tools import SandboxTools
from patchloop.agent.window import opening_messages
from patchloop.datagen.repos import repair as view
from patchloop.evals.repair import repair_task
from patchloop.types import RecordError
from tests.agent.conftest import agent_config, open_task_sandbox
from tests.evals.swe_helpers import builtin


def user_text(row: dict) -> str:
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    return row["prompt"][1]["content"]


def test_the_prompt_shows_the_issue_and_the_code_the_agent_is_shown(tmp_path):
    task = builtin("ledger-2")
    row = view.repair_row(task, backend="local")
    text = user_text(row)
    assert task.problem_statement.strip() in text
    cfg = agent_config(context_tokens=10**6)
    with open_task_sandbox(task, tmp_path / "repo") as sb:
        opening = opening_messages(task, SandboxTools(sb, cfg, task.problem_statement), cfg, counter(), 0)[1].content
    shown = opening.split("Code the issue names (as `view` shows it):\n", 1)[1].split("\nFix the issue", 1)[0].strip()
    assert "\tdef " in shown and shown in text  # the same definitions, the same numbered lines
    assert row["targets"] == ["ledger/invoice.py::split_evenly", "ledger/invoice.py::Invoice.total"]


def test_the_row_carries_the_instance_and_the_prompt_version():
    task = builtin("textkit-1")
    row = view.repair_row(task, backend="local")
    assert row["instance_id"] == "textkit-1" and row["prompt_version"] == view.REPAIR_VERSION
    assert repair_task(row["instance"]) == task  # the whole instance: a row grades without its file
    assert row["targets"] == ["textkit/trunc.py::truncate"]
    assert "     9\t    if len(text) < width:" in user_text(row)  # numbered as `view` numbers lines
    assert view.prompt_record()["version"] == view.REPAIR_VERSION


def test_a_class_shown_whole_is_a_target_its_methods_share():
    """The grader reads ``path::Class`` as "every method of it was shown" (``evals.repair``)."""
    row = view.repair_row(builtin("intervals-2"), backend="local")
    assert "class Interval" in user_text(row)
    assert row["targets"] == ["intervals/core.py::Interval", "intervals/core.py::gaps"]


def test_the_failing_tests_output_is_shown_only_when_asked():
    task = builtin("textkit-1")
    plain = user_text(view.repair_row(task, backend="local"))
    with_tests = user_text(view.repair_row(task, test_output=True, backend="local"))
    assert "failing tests' output" not in plain and "AssertionError" not in plain
    failing = task.FAIL_TO_PASS[0].split("::")[-1]
    assert "failing tests' output" in with_tests and "assert" in with_tests and failing in with_tests
    assert "PASSED " not in with_tests  # the passing tests' lines only take room


def test_an_issue_that_names_no_code_says_so_and_targets_nothing():
    task = builtin("textkit-1")
    task.problem_statement = "Something is off when the output is shorter than expected."
    row = view.repair_row(task, backend="local")
    assert row["targets"] == [] and view.NO_CODE_SHOWN.strip() in user_text(row)


def test_an_instance_whose_repository_is_gone_is_reported_and_the_rest_go_on():
    broken = builtin("textkit-1")
    broken.instance_id, broken.extra["repo_path"] = "broken-1", "/nonexistent/textkit"
    errors: list[RecordError] = []
    rows = list(view.repair_rows([broken, builtin("textkit-2")], on_error=errors.append, backend="local"))
    assert [r["instance_id"] for r in rows] == ["textkit-2"]
    assert len(errors) == 1 and "broken-1" in str(errors[0]) and "repo_path" in str(errors[0])
