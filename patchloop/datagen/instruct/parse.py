"""A teacher's reply read as a HumanEval-style task, or a drop with its reason.

The templates ask for a problem, a solution in a fenced Python block, and tests in a second
one (``def check(candidate)``). Small teachers answer otherwise often; each way of failing is
a named reason the stage counts (``no_code_block``, ``no_solution``, ``no_tests``,
``unparsable_solution``, ``unparsable_tests``), never an exception. Tests written as bare
asserts on the function's name are turned into ``check(candidate)`` (the grader calls the
candidate through ``check``, so a test that never calls it proves nothing and fails).

The task is split HumanEval's way: ``prompt`` is the solution up to the end of the entry
function's docstring (imports and helpers before it included), ``canonical_solution`` the rest;
a function without a docstring gets the problem text as one.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from patchloop.types import FunctionTask

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.S)
_PROBLEM = re.compile(r"#+\s*(?:problem|instruction|task)\s*:?\s*\n(.*?)(?=\n#+\s|\n```|\Z)", re.S | re.I)


class Drop(Exception):
    """A reply that is not a usable task; ``reason`` is a short machine-readable label."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class Parsed:
    problem: str
    solution: str
    test: str


def code_blocks(text: str) -> list[str]:
    """Fenced blocks that are Python or unlabelled, in order."""
    return [body for lang, body in _FENCE.findall(text or "") if lang.lower() in ("", "python", "py", "python3")]


def problem_text(text: str) -> str:
    """The problem statement of a reply: under a ``### Problem`` heading, else what precedes
    the first fence."""
    m = _PROBLEM.search(text or "")
    if m and m.group(1).strip():
        return m.group(1).strip()
    return (text or "").split("```", 1)[0].strip()


def _is_test(block: str) -> bool:
    return "def check(" in block or re.search(r"^\s*assert\b", block, re.M) is not None


_HEADING = re.compile(r"^#+\s*(problem|instruction|task|solution|tests?)\b[^\n]*$", re.M | re.I)


def _sections(text: str) -> dict[str, str]:
    """Text under ``### Problem`` / ``### Solution`` / ``### Tests`` headings (a problem may
    hold code of its own: erroneous code given as misdirection, for one)."""
    marks = list(_HEADING.finditer(text))
    out = {}
    for m, nxt in zip(marks, [*marks[1:], None]):
        name = m.group(1).lower()
        name = {"instruction": "problem", "task": "problem", "test": "tests"}.get(name, name)
        out.setdefault(name, text[m.end():nxt.start() if nxt else len(text)])
    return out


def split_reply(text: str) -> Parsed:
    text = text or ""
    sec = _sections(text)
    if "solution" in sec:
        problem = sec.get("problem", text.split("```", 1)[0]).strip()
        sols, tests = code_blocks(sec["solution"]), code_blocks(sec.get("tests", ""))
        if not sols and not tests and not code_blocks(text):
            raise Drop("no_code_block")
        tests = tests or [b for b in sols if _is_test(b)]
        sols = [b for b in sols if b not in tests]
    else:
        blocks = code_blocks(text)
        if not blocks:
            raise Drop("no_code_block")
        problem = problem_text(text)
        tests = [b for b in blocks if "def check(" in b] or [b for b in blocks if _is_test(b)]
        sols = [b for b in blocks if b not in tests]
    sols = [b for b in sols if re.search(r"^def \w+\(", b, re.M)]
    if not sols:
        raise Drop("no_solution")
    if not tests:
        raise Drop("no_tests")
    return Parsed(problem, sols[0], tests[0])


def _entry(tree: ast.Module, problem: str, test: str) -> ast.FunctionDef:
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name != "check"]
    if not fns:
        raise Drop("no_solution", "no top-level function")
    for fn in fns:  # the function the tests call by name, then the one the problem names
        if re.search(rf"\b{re.escape(fn.name)}\s*\(", test):
            return fn
    named = [fn for fn in fns if fn.name in problem]
    return named[-1] if named else fns[-1]


def _check_from_asserts(test: str, name: str) -> str:
    """Bare asserts on ``name`` as a ``check(candidate)`` function."""
    body = re.sub(rf"\b{re.escape(name)}\s*\(", "candidate(", test.strip("\n"))
    return "def check(candidate):\n" + "".join(f"    {line}\n" for line in body.splitlines())


def _split_at_docstring(source: str, fn_name: str, problem: str) -> tuple[str, str]:
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == fn_name)
    has_doc = ast.get_docstring(fn) is not None
    if not has_doc or fn.body[0].lineno == fn.lineno:
        if not has_doc:
            fn.body.insert(0, ast.Expr(ast.Constant(problem or f"Implement {fn_name}.")))
        source = ast.unparse(tree) + "\n"
        tree = ast.parse(source)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == fn_name)
    lines = source.splitlines(keepends=True)
    end = fn.body[0].end_lineno
    if len(fn.body) < 2:
        raise Drop("no_solution", f"{fn_name} has no body beyond its docstring")
    return "".join(lines[:end]), "".join(lines[end:])


def to_task(text: str, task_id: str, extra: dict | None = None) -> FunctionTask:
    """The task a reply describes; raises :class:`Drop` with the reason it is not one."""
    p = split_reply(text)
    try:
        tree = ast.parse(p.solution)
    except (SyntaxError, ValueError) as e:
        raise Drop("unparsable_solution", str(e)[:120]) from None
    fn = _entry(tree, p.problem, p.test)
    test = p.test if "def check(" in p.test else _check_from_asserts(p.test, fn.name)
    try:
        ast.parse(test)
    except (SyntaxError, ValueError) as e:
        raise Drop("unparsable_tests", str(e)[:120]) from None
    if "candidate" not in test:
        raise Drop("no_tests", "the tests never call the function")
    prompt, body = _split_at_docstring(p.solution.strip("\n") + "\n", fn.name, p.problem)
    info = {"instruction": p.problem, **(extra or {})}
    return FunctionTask(task_id, prompt, fn.name, test, body, info)
