"""Problem statements for validated bugs: a template from what the failing tests showed, or a
teacher model under SWE-smith's rules (report the symptom like a user; never the fix, never
the tests' names, never the diff).

``IssueWriter`` is the seam: ``TemplateWriter`` needs nothing, ``TeacherWriter`` wraps any
LangChain chat model (``llm.load_chat_model`` spec). A teacher's text that breaks a rule
(``leaks``) is replaced by the template, and the instance says which one it got.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

MIN_CUT_MESSAGE = 30  # characters, "..." included: a cut message shorter than this is left out
# a test id may hold spaces (``test_fit[hello world]``); the message follows the first " - "
_SUMMARY = re.compile(r"^(?:FAILED|ERROR) (\S.*?)(?: - (.*))?$", re.MULTILINE)


@dataclass
class IssueContext:
    """What a writer may look at. ``failures`` maps a failing test id to its one-line message."""

    module: str
    target: str
    diff: str
    failures: dict[str, str] = field(default_factory=dict)
    test_sources: dict[str, str] = field(default_factory=dict)
    n_pass: int = 0

    @property
    def test_names(self) -> set[str]:
        """Every name a statement must not contain: test functions and their classes."""
        out = set()
        for tid in self.failures:
            for part in tid.split("::")[1:]:
                out.add(part.split("[", 1)[0])
        return {n for n in out if len(n) > 3}


class IssueWriter(Protocol):
    """``write`` returns (statement, where it came from: ``template``, ``teacher`` or
    ``template (teacher rejected: why)``)."""

    name: str

    def write(self, ctx: IssueContext) -> tuple[str, str]: ...


def failure_messages(log_text: str) -> dict[str, str]:
    """{test id: message} from pytest's ``-rA`` short summary in a harness log."""
    out: dict[str, str] = {}
    for m in _SUMMARY.finditer(log_text):
        tid, msg = m.group(1).strip(), (m.group(2) or "").strip()
        if msg or tid not in out:  # a later bare line for the same test keeps the message
            out[tid] = msg
    return out


def leaks(text: str, ctx: IssueContext) -> str:
    """Why ``text`` gives something away ("" when it does not)."""
    if re.search(r"^(diff --git|@@ |\+\+\+ |--- a/)", text, re.MULTILINE):
        return "contains a diff"
    for name in ctx.test_names:
        if re.search(rf"\b{re.escape(name)}\b", text):
            return f"names the test {name}"
    for line in ctx.diff.splitlines():
        if line[:1] in "+-" and not line.startswith(("+++", "---")):
            code = line[1:].strip()
            if len(code) >= 12 and code in text:
                return "quotes a changed line"
    return ""


class TemplateWriter:
    """A statement from the observed failures alone."""

    name = "template"

    def write(self, ctx: IssueContext) -> tuple[str, str]:
        parts = ctx.target.split("+")  # a combined bug names both functions
        symbol = " and ".join(f"`{t}`" for t in parts)
        messages = []
        for msg in ctx.failures.values():
            msg = msg[:300]
            # pytest cuts summary lines at the terminal width: a cut test name is still a name, and
            # a line cut to a few characters ("Asserti...") says nothing
            cut_to_nothing = msg.endswith("...") and len(msg) < MIN_CUT_MESSAGE
            if msg and msg not in messages and not leaks(msg, ctx) and "test" not in msg.lower() and not cut_to_nothing:
                messages.append(msg)
        n = len(ctx.failures)
        lines = [f"{symbol} in `{ctx.module}` does not behave as documented", "",
                 f"Code that goes through {symbol} now gives wrong results or raises. In a fresh checkout "
                 f"{n} test{'s' if n != 1 else ''} of the project fail{'s' if n == 1 else ''} "
                 f"while {ctx.n_pass} others still pass."]
        if messages:
            lines += ["", "What the failures report:", "", "```"] + messages[:3] + ["```"]
        else:
            lines += ["", "The failures report no message beyond the failed check."]
        verb, whose = ("behave", "their") if len(parts) > 1 else ("behaves", "its")
        lines += ["", f"Expected: {symbol} {verb} as {whose} documentation and the rest of the library assume."]
        return "\n".join(lines) + "\n", self.name


SYSTEM = """You write GitHub issues for a Python library. You are shown a change that introduced a bug, \
the test output it causes and the sources of the failing tests. Write the issue a user would file: a short \
title line, what they did (a small code example calling the library's public API), what they expected and \
what happened instead. Rules: do not reveal or hint at the fix or the changed lines; do not mention or name \
any test, test file or test function; do not include a diff. Answer with the issue text only."""


class TeacherWriter:
    """Any chat model (``invoke(messages)`` returning a message with ``.content``)."""

    name = "teacher"

    def __init__(self, model, fallback: IssueWriter | None = None):
        self.model = model
        self.fallback = fallback or TemplateWriter()

    def prompt(self, ctx: IssueContext) -> str:
        fails = "\n".join(f"{t}: {m}" for t, m in list(ctx.failures.items())[:5])
        sources = "\n\n".join(list(ctx.test_sources.values())[:3])
        return (f"Change that introduced the bug:\n```diff\n{ctx.diff}\n```\n\nFailing output:\n```\n{fails}\n```\n\n"
                f"Failing tests:\n```python\n{sources}\n```\n")

    def write(self, ctx: IssueContext) -> tuple[str, str]:
        from langchain_core.messages import HumanMessage, SystemMessage

        reply = self.model.invoke([SystemMessage(SYSTEM), HumanMessage(self.prompt(ctx))])
        text = str(getattr(reply, "content", reply) or "").strip()
        why = leaks(text, ctx) if text else "empty answer"
        if why:
            return self.fallback.write(ctx)[0], f"template (teacher rejected: {why})"
        return text + "\n", self.name


def test_sources(repo: Path, test_ids: list[str], limit: int = 3) -> dict[str, str]:
    """Source of the first ``limit`` failing test functions (for a teacher's prompt)."""
    out: dict[str, str] = {}
    for tid in test_ids:
        if len(out) >= limit:
            break
        path, *names = tid.split("::")
        if not names or not (repo / path).is_file():
            continue
        func = names[-1].split("[", 1)[0]
        try:
            text = (repo / path).read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func:
                out[tid] = ast.get_source_segment(text, node) or ""
                break
    return out
