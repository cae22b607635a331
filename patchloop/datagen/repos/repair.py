"""The single-turn repair view of a repository instance: one prompt, one reply, one verdict.

A repair row asks a model for the whole corrected function, given the issue text and the code
the issue names (``evals.localize``, the same definitions and the same numbered lines the
agent's opening message shows) and, with ``test_output``, what the failing tests print before
the fix. The reply is graded by ``evals.repair.grade_repair``; the row carries what that
needs: ``instance`` (the whole instance as JSON, so a row grades without its dataset file)
and ``targets`` (``path::qualname`` of each definition shown, which decides between
definitions of one name).

The template is versioned like ``evals.prompts``: a changed text is a new ``REPAIR_VERSION``,
recorded in every row, so a score says which prompt it had.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path

from patchloop.evals.code_tags import GRAMMARS, Tag, file_tags
from patchloop.evals.localize import focus_block, focus_definitions
from patchloop.evals.repair import python_definitions
from patchloop.evals.repos import checkout_task_repo, git
from patchloop.evals.swe import evaluate_instance
from patchloop.types import RecordError, Task

REPAIR_VERSION = "repair-v1"
FOCUS_TOKENS = 800  # the agent's default (AgentConfig.focus_tokens): the same code in both views
TEST_OUTPUT_CHARS = 3_000  # of the failing tests' output, its end (pytest's summary and failures)
SYSTEM = "You are an expert Python developer. You fix bugs in real repositories."
TEMPLATE = """Repository: {repo}

<issue>
{problem_statement}
</issue>
{code}{tests}
Fix the issue by rewriting one function. Answer with the whole corrected function (or method, \
without its class) in one ```python code block, under its existing name: it replaces that \
function in the repository, and the repository's tests decide."""
CODE_SHOWN = "\nCode the issue names (as `view` shows it):\n{focus}\n"
NO_CODE_SHOWN = "\n(The issue names no function this repository defines: find it from the issue.)\n"
_RULE = re.compile(r"([=_-])\1{8,}")
TESTS_SHOWN = "\nThe failing tests' output before the fix (its end):\n```\n{output}\n```\n"


def prompt_record() -> dict[str, str]:
    """Version and template text, for a run's summary."""
    return {"format": "repair", "version": REPAIR_VERSION, "system": SYSTEM, "template": TEMPLATE}


def source_files(repo: Path, limit: int = 3_000, max_bytes: int = 300_000) -> dict[str, str]:
    """Path -> text of the files localisation reads: as the agent's tools choose them (the
    first ``limit`` files git knows, in a covered language, under ``max_bytes``)."""
    listing = git(repo, "ls-files", "-co", "--exclude-standard", "-z", strip=False).split("\0")[:limit]
    out = {}
    for name in listing:
        path = repo / name
        if name.endswith(tuple(GRAMMARS)) and path.is_file() and path.stat().st_size <= max_bytes:
            out[name] = path.read_text(encoding="utf-8", errors="replace")
    return out


def _targets(files: dict[str, str], shown: list[Tag]) -> list[str]:
    """``path::qualname`` of each Python function shown; for a class shown whole, the class's
    qualname (a prefix of its methods' targets, which ``evals.repair`` reads as "shown")."""
    out = []
    for tag in shown:
        if not tag.path.endswith(".py"):
            continue
        defs = python_definitions(tag.path, files[tag.path])
        exact = [d.target for d in defs if d.def_line == tag.line + 1]
        inner = sorted({d.target.rsplit(".", 1)[0] for d in defs
                        if "." in d.qualname and tag.line < d.def_line - 1 and d.end - 1 <= tag.end})
        out += exact or inner[:1]
    return list(dict.fromkeys(out))


def failing_output(task: Task, *, backend: str = "auto", timeout: float = 120.0,
                   chars: int = TEST_OUTPUT_CHARS) -> str:
    """The end of what the instance's tests print at its base (test patch applied, no fix):
    the harness's own run, so the model sees the assertion the grader will check."""
    with tempfile.TemporaryDirectory(prefix="patchloop-repair-view-") as tmp:
        result = evaluate_instance(task, "", run_empty=True, backend=backend, timeout=timeout, log_dir=tmp)
        log = Path(result.log_path).read_text(encoding="utf-8", errors="replace") if result.log_path else ""
    section = log.split("\n== tests: exit", 1)[-1].split("\n== ", 1)[0] if "== tests: exit" in log else ""
    body = section.split("\n", 2)[-1] if section.count("\n") >= 2 else ""  # past "N ...\n$ command"
    # the passing tests' names and pytest's full-width rules only take room from the failures
    lines = [_RULE.sub(r"\1" * 8, line) for line in body.splitlines() if not line.startswith("PASSED ")]
    return "\n".join(lines).strip()[-chars:]


def repair_row(task: Task, *, focus_tokens: int = FOCUS_TOKENS, test_output: bool = False,
               backend: str = "auto", timeout: float = 120.0) -> dict:
    """One instance as a repair row: ``prompt`` (chat messages), ``instance_id``, ``instance``,
    ``targets``, ``prompt_version``. Raises ``RepoError`` when the repository cannot be had."""
    with tempfile.TemporaryDirectory(prefix="patchloop-repair-view-") as tmp:
        files = source_files(checkout_task_repo(task, Path(tmp) / "repo"))
    return row_from_files(task, files, focus_tokens=focus_tokens, test_output=test_output,
                          backend=backend, timeout=timeout)


def row_from_files(task: Task, files: dict[str, str], *, focus_tokens: int = FOCUS_TOKENS,
                   test_output: bool = False, backend: str = "auto", timeout: float = 120.0) -> dict:
    """``repair_row`` over files already read (``source_files``): callers that also need the
    targets' source (the repair dataset's leak check) check the repository out once."""
    tags_of: Callable[[str, str], list[Tag]] = cache(file_tags)  # parsed once for both calls
    issue = task.problem_statement.strip()
    shown, _ = focus_definitions(files, issue, focus_tokens, tags_of)
    focus = focus_block(files, issue, focus_tokens, tags_of)
    tests = ""
    if test_output and (out := failing_output(task, backend=backend, timeout=timeout)):
        tests = TESTS_SHOWN.format(output=out)
    text = TEMPLATE.format(repo=task.repo or task.instance_id, problem_statement=issue,
                           code=CODE_SHOWN.format(focus=focus) if focus else NO_CODE_SHOWN, tests=tests)
    return {
        "prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        "instance_id": task.instance_id,
        "instance": json.dumps(task.to_dict(), sort_keys=True, separators=(",", ":")),
        "targets": _targets(files, shown),
        "prompt_version": REPAIR_VERSION,
    }


def repair_rows(tasks: Iterable[Task], *, on_error: Callable[[RecordError], None] | None = None,
                **options) -> Iterator[dict]:
    """``repair_row`` for each instance; one whose repository cannot be had goes to ``on_error``
    (one line naming it and the cause) and the rest go on."""
    for task in tasks:
        try:
            yield repair_row(task, **options)
        except Exception as e:  # noqa: BLE001 -- per-instance boundary: reported, counted, the batch goes on
            if on_error is None:
                raise
            on_error(RecordError(f"instance {task.instance_id}", f"{type(e).__name__}: {e}"))
