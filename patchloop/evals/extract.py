"""What a model's answer becomes before it is graded: one extraction for every verdict.

RL rewards, ``eval func`` (a samples file or ``--model``) and datagen verification hand the
grader the model's text as it came; ``extract_completion`` here decides what code that text
holds and ``build_program`` what runs, so training and measurement cannot disagree on what
an answer *was*.

Answers come in three shapes:

* a body continuing the prompt (base models, HumanEval's completion format), maybe followed
  by prose or more code;
* a whole function, usually in a ```python block, with imports, helpers, example usage and
  prose around it (instruct models asked in a chat);
* neither (no code, or not text at all): graded as the empty answer, which fails.

The rules, in order:

1. Text only: a chat message list (OpenAI/TRL format) counts as its joined contents, anything
   else that is not a string as the empty answer.
2. Fenced blocks (```python, ```py, ```python3 or no language; an unterminated last block
   counts, since generation may stop inside it; blocks in other languages are never code):
   the first block that defines the entry point, preceded by the blocks before it that hold
   only imports and definitions (helpers written as a block of their own); when no block
   defines it, the first block, taken as a body.
3. Trailing prose is cut: a program that does not parse is cut before the top-level line
   where parsing fails, again until it parses (so HumanEval's "stop at the first unindented
   line" happens only where needed: a helper defined after a body stays). Prose before an
   unfenced whole function is dropped the same way.
4. A body written flush left (``return x``) is indented into the prompt's function when only
   that makes it parse.

A single-turn repair reply (``function_reply``) is read by the same rules 1 and 2: the first
fenced Python block that defines a function, whose first definition replaces the function of
that name in the repository.

Nothing is removed from code that parses: example calls and asserts a model adds run as it
wrote them (and fail the answer if they fail), as they would for a user.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from patchloop.types import FunctionTask

_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
PYTHON_TAGS = ("", "python", "py", "python3")
_CODE_START = re.compile(r"^(?:async\s+def|def|class|import|from|@)\b")
_MAX_CUTS = 64  # parse attempts per answer: bounds the work a pathological answer can cause


def completion_text(completion: Any) -> str:
    """An answer as text: a string as is, a chat message list as its joined contents."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m["content"] for m in completion if isinstance(m, dict) and isinstance(m.get("content"), str))
    return ""


def python_blocks(text: str) -> list[str]:
    """The fenced Python blocks of ``text``, in order (see rule 2 of the module doc)."""
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1).lower() in PYTHON_TAGS]


def defines(code: str, name: str) -> bool:
    """Whether ``code`` defines ``name`` at top level (a whole solution, not a body)."""
    if not name:
        return False
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not source (NUL bytes, nesting...)
        return re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in tree.body)


def _definitions_only(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    kinds = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return bool(tree.body) and all(isinstance(n, kinds) for n in tree.body)


def _from_blocks(blocks: list[str], entry_point: str) -> str:
    for i, block in enumerate(blocks):
        if defines(block, entry_point):
            helpers = [b for b in blocks[:i] if _definitions_only(b)]
            return "\n\n".join(b.rstrip("\n") for b in [*helpers, block]) + "\n"
    return blocks[0]


def _parses(source: str) -> int | None:
    """None when ``source`` compiles (which also refuses ``return`` outside a function, unlike a
    bare parse), else the 1-based line where it failed (0: not source at all)."""
    try:
        compile(source, "<completion>", "exec", dont_inherit=True)
        return None
    except SyntaxError as e:
        return e.lineno or 0
    except (ValueError, RecursionError, MemoryError):  # NUL bytes, lone surrogates, absurd nesting
        return 0


def _longest_parsing_prefix(lines: list[str], before: str) -> str | None:
    """The longest ``lines[:cut]`` (cut at a top-level line) that parses after ``before``."""
    offset = before.count("\n")
    tops = [i for i, line in enumerate(lines) if line.strip() and not line[0].isspace()]
    end = len(lines)
    for _ in range(_MAX_CUTS):
        code = "".join(lines[:end])
        failed = _parses(before + code)
        if failed is None:
            return code
        if failed == 0:
            return None
        where = failed - 1 - offset  # index into lines of the failing line
        cuts = [i for i in tops if i <= where and i < end]
        if not cuts:
            return None
        end = cuts[-1]
    return None


def _trim_program(code: str, entry_point: str) -> str:
    lines = code.splitlines(keepends=True)
    if _parses(code) is None:
        return code
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)]
    fallback = None
    for start in [0, *starts][:8]:
        kept = _longest_parsing_prefix(lines[start:], "")
        if kept and defines(kept, entry_point):
            return kept
        fallback = fallback or (kept if kept and kept.strip() else None)
    return fallback or code


def _trim_body(code: str, prompt: str) -> str:
    lines = code.splitlines(keepends=True)
    if _parses(prompt + code) is None:
        return code
    first = next((line for line in lines if line.strip()), "")
    if first and not first[0].isspace():  # a body written flush left
        indented = "".join("    " + line if line.strip() else line for line in lines)
        if _parses(prompt + indented) is None:
            return indented
    kept = _longest_parsing_prefix(lines, prompt)
    return code if kept is None else kept


def extract_completion(completion: Any, *, prompt: str = "", entry_point: str = "") -> str:
    """The code an answer holds: a body to append to ``prompt`` or a whole program defining
    ``entry_point`` (module doc). Applying it to its own output changes nothing."""
    text = completion_text(completion)
    blocks = python_blocks(text)
    code = _from_blocks(blocks, entry_point) if blocks else text
    if defines(code, entry_point):
        return _trim_program(code, entry_point)
    return _trim_body(code, prompt)


def answer_settled(text: str, entry_point: str = "") -> bool:
    """Whether more text after ``text`` can no longer change :func:`extract_completion`'s result:
    the stop rule every engine applies while it generates (``GenRequest.settled``).

    That is once a *closed* fenced Python block defines the entry point (rule 2 takes the first
    such block, with the helper blocks before it, and ignores everything after), or, with no
    entry point, once the first Python block is closed. A helper written in its own block
    before the function does not settle it: generation goes on to the function. Text with no
    fence never settles (a body continuing the prompt ends at end-of-sequence or the limit)."""
    if text.count("```") < 2:
        return False
    for m in _FENCE.finditer(text):
        if m.group(1).lower() not in PYTHON_TAGS:
            continue
        if not m.group(0).endswith("```"):
            return False  # the last block is still open
        if not entry_point or defines(m.group(2), entry_point):
            return True
    return False


def repair_settled(text: str) -> bool:
    """The stop rule of a repair reply: once :func:`function_reply` has its definition (a
    closed Python block that parses and defines a function, no open block before it), nothing
    generated after it can change what is graded."""
    return text.count("```") >= 2 and not function_reply(text).fault


def build_program(task: FunctionTask, completion: Any) -> str:
    """The program that runs for ``completion`` on ``task``. HumanEval convention: a body is
    appended to the prompt; a whole function is used whole, after the prompt when the prompt
    parses alone, so the prompt's imports and helpers are there (the later definition wins)."""
    code = extract_completion(completion, prompt=task.prompt, entry_point=task.entry_point)
    if defines(code, task.entry_point):
        return task.prompt + "\n\n" + code if _parses(task.prompt) is None else code
    return task.prompt + code


# ------------------------------------------------------------ repair replies: one function

EMPTY, NO_CODE, TRUNCATED, SYNTAX, NO_FUNCTION = "empty_reply", "no_code", "truncated", "syntax_error", "no_function"


@dataclass
class FunctionReply:
    """What a single-turn repair reply holds: one function or method definition (``code``,
    dedented, decorators included; ``name`` qualified by a class written around it, as in
    ``Invoice.total``), or a ``fault`` (one of the constants above) and why."""

    code: str = ""
    name: str = ""
    fault: str = ""
    detail: str = ""


def _first_definition(tree: ast.Module, code: str) -> tuple[str, str] | None:
    """(source, name) of the first top-level function, else of the first method of a top-level
    class (``Class.method``): a model often repeats the class line around the method it fixes."""
    lines = code.splitlines(keepends=True)

    def source(node) -> str:
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        return textwrap.dedent("".join(lines[start - 1:node.end_lineno]))

    funcs = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, funcs):
            return source(node), node.name
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            method = next((m for m in node.body if isinstance(m, funcs)), None)
            if method is not None:
                return source(method), f"{node.name}.{method.name}"
    return None


def function_reply(completion: Any) -> FunctionReply:
    """The definition a repair reply holds, by the rules of the module doc (text only, fenced
    Python blocks in order), with one more: a block left open (generation stopped inside it,
    at the token limit) is a fault, never graded, since what it holds was not finished.
    Training and evaluation both call this, so "the function the model wrote" is one thing."""
    text = completion_text(completion)
    if not text.strip():
        return FunctionReply(fault=EMPTY, detail="the reply is empty")
    blocks = [m for m in _FENCE.finditer(text) if m.group(1).lower() in PYTHON_TAGS]
    if not blocks:
        return FunctionReply(fault=NO_CODE, detail="no ```python block in the reply")
    errors = []
    for m in blocks:
        if not m.group(0).endswith("```"):
            return FunctionReply(fault=TRUNCATED, detail="the reply ends inside its code block (token limit)")
        code = textwrap.dedent(m.group(2))
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
            errors.append(f"{type(e).__name__}: {getattr(e, 'msg', e)} (line {getattr(e, 'lineno', '?')})")
            continue
        found = _first_definition(tree, code)
        if found:
            return FunctionReply(code=found[0], name=found[1])
    if errors:
        return FunctionReply(fault=SYNTAX, detail=f"the code block does not parse: {errors[0]}")
    return FunctionReply(fault=NO_FUNCTION, detail="the code block defines no function")
