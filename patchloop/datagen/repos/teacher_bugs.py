"""Bugs a teacher model writes (SWE-smith's LM Rewrite and LM Modify), for covered functions.

``rewrite`` shows the teacher a function's signature and docstring and asks for its body: the
teacher's own slips are the bugs, and validation drops the bodies that pass every test.
``modify`` shows the whole function and asks for a one-line bug. Either way the reply is
untrusted: only its first ``python`` block is read; it must parse, define a function of the
same name with the same parameters, differ from the original in code (not only in comments),
and add no comment or string that points at the change (``bug``, ``wrong``, ``fix`` ...). The
new function replaces the old node with libcst (methods keep their class's indentation) and
the file must still compile; nothing of it runs here. Whatever fails is an attempt with its
reason, so the statistics show what the teacher got wrong. Attempts are written one by one as
the teacher answers, so a killed run resumes at the next function.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from patchloop.datagen.repos.candidates import Candidate, covered_targets, file_diff, seeded_rng
from patchloop.types import Record, append_jsonl, end_torn_line, iter_jsonl

MODES = ("rewrite", "modify")
# modify: shown the whole function, the teacher is asked for a bug. Small models mostly copy it
# back unchanged (Qwen2.5-Coder 0.5B and 1.5B, greedy: every reply on calckit). rewrite: shown
# the signature and docstring only, the teacher writes the body itself; its own slips are the
# bugs, and validation drops the implementations that pass.
ASK = {
    "modify": ("Introduce a bug into this function for a debugging exercise: change one line so that the "
               "function returns a wrong result for some inputs, as a programmer's slip would. Keep the name "
               "and parameters, add no comment about the change, and answer with the whole changed function "
               "in one ```python code block."),
    "rewrite": ("Implement this function: write its body. Keep the name, parameters and docstring, and answer "
                "with the whole function in one ```python code block."),
}
_TELLTALE = re.compile(r"\b(bugs?|buggy|error|wrong|incorrect|fix|fixed|introduc\w*|subtle|mistake)\b", re.I)
_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.S)
LOG = "teacher_bugs.jsonl"


@dataclass
class Attempt(Record):
    """One function shown to the teacher: the candidate it gave, or why there is none."""

    repo: str
    path: str
    target: str
    candidate: dict = field(default_factory=dict)  # the Candidate record, when there is one
    reason: str = ""


def mutation_name(mode: str) -> str:
    return f"lm_{mode}"


def shown(node: cst.FunctionDef, mode: str) -> str:
    """The function as the teacher sees it: whole (modify), or its body cut to the docstring and
    ``...`` (rewrite)."""
    if mode == "rewrite":
        body = node.body.body
        doc = [body[0]] if body and _is_docstring(body[0]) else []
        stub = cst.SimpleStatementLine([cst.Expr(cst.Ellipsis())])
        node = node.with_changes(body=node.body.with_changes(body=[*doc, stub]))
    return cst.Module(body=[]).code_for_node(node.with_changes(leading_lines=[]))


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def prompt(module: str, qualname: str, code: str, mode: str) -> str:
    return f"Function `{qualname}` of module `{module}`:\n```python\n{code.strip()}\n```\n\n{ASK[mode]}"


def _notes(node: cst.CSTNode) -> set[str]:
    """The comments and string literals (docstrings among them) of a node, line by line."""
    found: set[str] = set()

    class _Walk(cst.CSTVisitor):
        def visit_Comment(self, n: cst.Comment) -> None:
            found.add(n.value.strip())

        def visit_SimpleString(self, n: cst.SimpleString) -> None:
            found.update(line.strip() for line in n.value.splitlines())

    node.visit(_Walk())
    return found


def _code_only(code: str) -> str:
    """Code without comments and blank lines (a reply that only rewords comments changes nothing)."""
    return "\n".join(ln.split("#")[0].rstrip() for ln in code.splitlines() if ln.split("#")[0].strip())


def parse_reply(reply: str, original: cst.FunctionDef) -> tuple[cst.FunctionDef | None, str]:
    """The teacher's function, ready to replace ``original``, or None and why it cannot be used."""
    block = _BLOCK.search(reply or "")
    if not block:
        return None, "no python code block"
    try:
        module = cst.parse_module(block.group(1))
    except cst.ParserSyntaxError:
        return None, "reply does not parse"
    name = original.name.value
    found = [s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == name]
    if not found:
        return None, f"no function named {name} in the reply"
    new, render = found[0], cst.Module(body=[]).code_for_node
    if render(new.params) != render(original.params):
        return None, "parameters changed"
    if _code_only(render(new.body)) == _code_only(render(original.body)):
        return None, "no change to the code"
    if any(_TELLTALE.search(line) for line in _notes(new) - _notes(original)):
        return None, "a comment or string points at the change"
    return new.with_changes(leading_lines=original.leading_lines, decorators=original.decorators), ""


def rewrite(text: str, module: cst.Module, target: cst.FunctionDef, new: cst.FunctionDef) -> str | None:
    """The module's code with ``target`` replaced by ``new``; None when it does not compile."""
    code = module.deep_replace(target, new).code
    try:
        compile(code, "<teacher-bug>", "exec")
    except (SyntaxError, ValueError):
        return None
    return code if code != text else None


def ask_one(repo: Path, slug: str, rel: str, text: str, module: cst.Module, t, model, mode: str) -> Attempt:
    """One function to the teacher (a chat model: ``invoke(messages)``): the attempt, with the
    candidate it made or why there is none."""
    from langchain_core.messages import HumanMessage

    attempt = Attempt(slug, rel, t.qualname)
    dotted = rel.removesuffix(".py").removeprefix("src/").replace("/", ".")
    try:
        reply = model.invoke([HumanMessage(prompt(dotted, t.qualname, shown(t.node, mode), mode))])
    except Exception as e:  # noqa: BLE001 -- a teacher that cannot answer is a counted attempt, the run goes on
        attempt.reason = f"teacher failed: {type(e).__name__}: {e}"[:300]
        return attempt
    new, why = parse_reply(str(getattr(reply, "content", reply) or ""), t.node)
    code = rewrite(text, module, t.node, new) if new is not None else None
    if code is None:
        attempt.reason = why or "the file does not compile with the reply"
        return attempt
    diff = file_diff(repo, rel, code)
    name = mutation_name(mode)
    cid = f"{slug}.{name}__{hashlib.sha256(diff.encode()).hexdigest()[:8]}"
    attempt.candidate = Candidate(cid, slug, rel, t.qualname, name, diff).to_dict()
    return attempt


def teacher_candidates(repo: Path, slug: str, covered: dict[str, list[int]], model, work: Path, *,
                       seed: int = 0, limit: int = 0, mode: str = "rewrite", on_event=None) -> list[Candidate]:
    """Up to ``limit`` covered functions shown to ``model`` in a seeded order; each attempt is
    appended to ``work/teacher_bugs.jsonl`` as it comes and never asked again. Returns every
    candidate made so far."""
    log = work / LOG
    attempts = list(_attempts(work))
    done = {(a.path, a.target) for a in attempts}
    functions = [(rel, text, wrapper, t) for rel, text, wrapper, t in covered_targets(repo, covered)
                 if isinstance(t.node, cst.FunctionDef)]
    seeded_rng(seed, slug, "lm").shuffle(functions)
    for rel, text, wrapper, t in functions[:limit]:
        if (rel, t.qualname) in done:
            continue
        attempt = ask_one(repo, slug, rel, text, wrapper.module, t, model, mode)
        append_jsonl(log, attempt)
        attempts.append(attempt)
        if on_event is not None:
            on_event(f"{slug}: teacher bug for {rel}:{t.qualname}: {attempt.reason or 'candidate'}")
    return [Candidate.from_dict(a.candidate) for a in attempts if a.candidate]


def _attempts(work: Path) -> Iterator[Attempt]:
    log = work / LOG
    if log.exists():
        end_torn_line(log)  # a kill mid-write: the next attempt must not glue onto the torn line
        yield from iter_jsonl(log, Attempt, skip_bad=True)
