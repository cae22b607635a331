"""Grade a single-turn repair reply: the whole function it writes replaces that function in
the repository at ``base_commit``, and the SWE harness grades the resulting diff.

The one grader for the repair task (``datagen.repos.repair`` makes its rows): the RL reward
(``rl.repair_reward``) and evaluation both call :func:`grade_repair`, with the one extraction
(``extract.function_reply``), so training and measurement cannot disagree on what a reply
was or whether it fixed the issue.

Steps: reply -> one definition (its name qualified by a class when the reply wrote one) ->
the definition of that name in the repository (``ast`` positions; a method inside its class;
the code the prompt showed wins where the name is ambiguous) -> the file with it replaced,
re-indented to its place -> ``git diff`` -> ``swe.evaluate_instance`` (fresh checkout, test
files restored, FAIL_TO_PASS and PASS_TO_PASS run, timeouts graded as such).

A reply's fault is a verdict with reward 0 and its reason, never an exception: empty, no
code, unfinished (the token limit), does not parse, defines no function, names no function
of the repository or only one in a test file (an edit to the tests that decide the reward
earns nothing), leaves the file uncompilable, or returns the function unchanged. Only an
infrastructure failure (verdict ``error``) scores ``None``: the sample is unscored, not wrong.
"""

from __future__ import annotations

import ast
import json
import re
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchloop.evals import grading
from patchloop.evals.extract import TRUNCATED, FunctionReply, function_reply
from patchloop.evals.localize import is_test_path
from patchloop.evals.repos import checkout_task_repo, git
from patchloop.evals.swe import DEFAULT_TIMEOUT, evaluate_instance
from patchloop.types import Record, Task

UNKNOWN, AMBIGUOUS, TEST_FILE = "unknown_function", "ambiguous_function", "test_file"
UNPARSABLE_EDIT, UNCHANGED = "unparsable_edit", "unchanged"


@dataclass
class Definition:
    """A function or method of a Python file: ``qualname`` as Python writes it (``Invoice.total``),
    1-based ``start`` (first decorator) and ``end`` lines, ``indent`` of its ``def`` line."""

    path: str
    qualname: str
    start: int
    end: int
    def_line: int
    indent: int
    nested: bool = False  # a function inside a function: a target only where the prompt showed it

    @property
    def target(self) -> str:
        return f"{self.path}::{self.qualname}"


@dataclass
class RepairResult(Record):
    """One reply's verdict (a harness verdict or a fault of this module or of ``extract``),
    why, the definition it replaced (``path::qualname``), the diff graded and per-test status."""

    instance_id: str
    verdict: str
    reason: str = ""
    target: str = ""
    patch: str = ""
    tests: dict[str, str] = field(default_factory=dict)

    @property
    def resolved(self) -> bool:
        return self.verdict == grading.RESOLVED

    @property
    def reward(self) -> float | None:
        """1.0 resolved, 0.0 any other verdict, ``None`` when the harness itself failed."""
        if self.verdict == grading.ERROR_VERDICT:
            return None
        return 1.0 if self.resolved else 0.0


def python_definitions(path: str, source: str) -> list[Definition]:
    """The functions and methods of ``source`` (qualnames through classes and functions:
    ``cached.wrapper``); none when it does not parse. A function inside a function is marked
    ``nested``: the localisation shows such blocks (a bug can sit in a decorator's wrapper), so
    a reply that rewrites one must find it, but only where the prompt showed it."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found: list[Definition] = []

    def visit(body, prefix: str, in_function: bool) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                found.append(Definition(path, prefix + node.name, start, node.end_lineno, node.lineno,
                                        node.col_offset, nested=in_function))
                visit(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.", in_function)

    visit(tree.body, "", False)
    return found


def repair_task(instance: Any) -> Task:
    """The instance a repair row carries (its ``instance`` column: a JSON string or a dict)."""
    data = json.loads(instance) if isinstance(instance, str) else instance
    if not isinstance(data, dict) or not data.get("instance_id"):
        raise ValueError("a repair row's instance must be a JSON object with an instance_id")
    return Task.from_dict(data)


def _shown(d: Definition, targets) -> bool:
    """The prompt showed this definition, or the class around it."""
    return any(d.target == t or d.target.startswith(t + ".") for t in targets)


def find_target(defs: list[Definition], name: str, targets=()) -> tuple[Definition | None, str, str]:
    """The definition ``name`` (``total`` or ``Invoice.total``) replaces: (definition, fault, reason)."""
    matches = [d for d in defs if (d.qualname == name or d.qualname.endswith("." + name))
               and (not d.nested or _shown(d, targets))]
    if not matches:
        return None, UNKNOWN, f"no function or method named {name!r} in the repository"
    code = [d for d in matches if not is_test_path(d.path)]
    if not code:
        return None, TEST_FILE, f"{name!r} is defined only in test files ({matches[0].target}): tests are not edited"
    shown = [d for d in code if _shown(d, targets)]
    pick = shown or code
    if len(pick) > 1:
        names = ", ".join(d.target for d in pick[:5])
        return None, AMBIGUOUS, f"{name!r} names {len(pick)} definitions ({names}); qualify it with its class"
    return pick[0], "", ""


def replace_definition(source: str, d: Definition, code: str) -> str:
    """``source`` with the lines of ``d`` replaced by ``code`` indented to ``d``'s place."""
    lines = source.splitlines(keepends=True)
    new = textwrap.indent(code.rstrip("\n") + "\n", " " * d.indent)
    return "".join(lines[:d.start - 1]) + new + "".join(lines[d.end:])


def _compiles(path: str, source: str) -> str:
    """"" when ``source`` compiles (``compile`` also refuses what ``ast.parse`` lets by, such as
    a misplaced ``nonlocal``); else the error. Compiling never runs the code."""
    try:
        compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return f"{type(e).__name__}: {getattr(e, 'msg', e)} (line {getattr(e, 'lineno', '?')})"
    return ""


def _python_files(repo: Path, name: str) -> dict[str, str]:
    """The tracked Python files that may define ``name``: only those are parsed, which keeps
    a reply's grading cheap in a repository of thousands of files."""
    listing = git(repo, "ls-files", "-z", "--", "*.py", strip=False).split("\0")
    defines = re.compile(rf"\bdef\s+{re.escape(name.rsplit('.', 1)[-1])}\b")
    texts = {p: (repo / p).read_text(encoding="utf-8", errors="replace") for p in listing if p and (repo / p).is_file()}
    return {p: t for p, t in texts.items() if defines.search(t)}


def repair_patch(task: Task, reply: FunctionReply, targets=()) -> tuple[str, str, str, str]:
    """(diff, target, fault, reason): the reply's definition put in place at ``base_commit``."""
    with tempfile.TemporaryDirectory(prefix="patchloop-repair-") as tmp:
        repo = checkout_task_repo(task, Path(tmp) / "repo")
        files = _python_files(repo, reply.name)
        defs = [d for p, s in sorted(files.items()) for d in python_definitions(p, s)]
        d, fault, reason = find_target(defs, reply.name, targets)
        if d is None:
            return "", "", fault, reason
        edited = replace_definition(files[d.path], d, reply.code)
        if err := _compiles(d.path, edited):
            return "", d.target, UNPARSABLE_EDIT, f"{d.path} does not compile after the edit: {err}"
        (repo / d.path).write_text(edited, encoding="utf-8")
        diff = git(repo, "diff", "--", d.path, strip=False)
        if not diff.strip():
            return "", d.target, UNCHANGED, f"the reply returns {d.qualname} unchanged"
        return diff, d.target, "", ""


def grade_repair(task: Task, completion: Any, *, targets=(), truncated: bool = False, backend: str = "auto",
                 timeout: float = DEFAULT_TIMEOUT, log_dir: str | Path | None = None) -> RepairResult:
    """Grade one reply on ``task`` (module doc). ``targets``: the ``path::qualname`` the prompt
    showed (the row's ``targets``); ``truncated``: generation stopped at its token limit, so
    the reply is a fault whatever it holds. Never raises for a reply; infrastructure failures
    (the repository cannot be checked out, the harness fails) are verdict ``error``."""
    result = RepairResult(task.instance_id, grading.ERROR_VERDICT)
    reply = function_reply(completion)
    if truncated:
        reply = FunctionReply(fault=TRUNCATED, detail="generation stopped at the token limit")
    if reply.fault:
        result.verdict, result.reason = reply.fault, reply.detail
        return result
    try:
        patch, result.target, fault, reason = repair_patch(task, reply, targets)
    except Exception as e:  # noqa: BLE001 -- the per-reply boundary: counted as `error`, the batch goes on
        result.reason = f"{type(e).__name__}: {e}"
        return result
    if fault:
        result.verdict, result.reason = fault, reason
        return result
    graded = evaluate_instance(task, patch, backend=backend, timeout=timeout, log_dir=log_dir,
                               model_name_or_path="repair")
    result.verdict, result.reason, result.patch, result.tests = graded.verdict, graded.reason, patch, graded.tests
    return result
