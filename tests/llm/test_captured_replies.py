"""Replies real small models wrote as the agent's policy (Qwen2.5-Coder-0.5B- and
1.5B-Instruct behind `patchloop serve`, greedy; tests/llm/data/*.jsonl, whose first line is
the command that captured them), read the way the agent reads them, in both action modes,
plus malformed variants of their calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchloop.llm.toolcalls.parse import parse_tool_calls
from patchloop.llm.toolcalls.salvage import salvage_tool_calls

DATA = sorted((Path(__file__).parent / "data").glob("*_replies.jsonl"))
TOOLS = {"view", "search", "repo_map", "edit", "create", "run", "run_tests", "submit"}


def rows() -> list[dict]:
    out = []
    for path in DATA:
        lines = [json.loads(x) for x in path.read_text().splitlines()]
        assert "captured_with" in lines[0], f"{path}: the first line must say how it was captured"
        out += [dict(r, file=path.name) for r in lines[1:]]
    return out


ROWS = rows()
TOOL_ROWS = [r for r in ROWS if r["action_mode"] == "tools"]
TEXT_ROWS = [r for r in ROWS if r["action_mode"] == "text"]


def echo(reply: str) -> bool:
    """A reply that copies a tool result back (seen with the 1.5B model): no call was tried; the
    agent answers it as a reply without a tool call."""
    return reply.lstrip().startswith("<tool_response>")


def read(reply: str):
    """What the agent takes from a reply: the server-side strict parse, then the salvage."""
    strict = parse_tool_calls(reply, TOOLS)
    if strict.tool_calls:
        return strict.tool_calls, strict.invalid_tool_calls
    salvaged = salvage_tool_calls(strict.content, TOOLS)
    return salvaged.tool_calls, strict.invalid_tool_calls + salvaged.invalid_tool_calls


def test_there_is_captured_data():
    assert TOOL_ROWS and TEXT_ROWS


@pytest.mark.parametrize("row", TEXT_ROWS, ids=lambda r: f"{r['file'][:16]}-{r['instance_id']}-{r['step']}")
def test_captured_text_replies_are_read_as_the_agent_read_them(row):
    """A text-mode reply runs its (first) fenced command, ends the episode on `submit`, or is
    answered with a format error that shows the expected block."""
    from patchloop.agent.text_actions import SUBMIT, parse_action

    command, message = parse_action(row["reply"])
    expected = [] if command is None else ["submit" if command == SUBMIT else "run"]
    assert expected == row["parsed_calls"]
    if command is None:
        assert message.startswith("Format error") and "```bash" in message


@pytest.mark.parametrize("row", TOOL_ROWS, ids=lambda r: f"{r['file'][:16]}-{r['instance_id']}-{r['step']}")
def test_captured_tool_replies_are_read_as_the_agent_read_them(row):
    calls, errors = read(row["reply"])
    assert [c["name"] for c in calls] == row["parsed_calls"]
    tried = not echo(row["reply"]) and ('"name"' in row["reply"] or any(f'"{t}"' in row["reply"] for t in TOOLS))
    assert calls or errors or not tried  # a reply that tried to call is never met with silence
    for bad in errors:  # and what goes back says what was wrong and how to write it
        assert "<tool_call>" in bad["error"] and len(bad["error"]) < 600


def test_a_call_to_the_function_under_repair_is_named_as_no_tool():
    # seen: the 0.5B model "called" the function from the issue instead of a tool
    row = next(r for r in TOOL_ROWS if '"name": "truncate"' in r["reply"])
    calls, [bad] = read(row["reply"])
    assert calls == [] and "unknown tool 'truncate'" in bad["error"] and "view" in bad["error"]


def outcome(reply: str) -> tuple[list, list]:
    calls, errors = read(reply)
    return [(c["name"], c["args"]) for c in calls], [e["error"].split(";")[0] for e in errors]


CALL_ROWS = [r for r in TOOL_ROWS if '"name"' in r["reply"] and not echo(r["reply"])]


@pytest.mark.parametrize("row", CALL_ROWS, ids=lambda r: f"{r['file'][:16]}-{r['instance_id']}-{r['step']}")
def test_malformed_variants_of_captured_replies(row):
    """The captured reply with its closing fence cut, inside a <tools> wrapper, or with the
    name turned into a real tool: read the same way, or mended, or refused with a reason."""
    reply = row["reply"]
    same = outcome(reply)
    unclosed = reply.rstrip()[:-3] if reply.rstrip().endswith("```") else reply
    assert outcome(unclosed) == same
    assert outcome(f"<tools>\n{reply}\n</tools>") == same
    name = json.JSONDecoder(strict=False).raw_decode(reply[reply.index("{"):])[0]["name"]  # the first call
    as_view = reply.replace(f'"name": "{name}"', '"name": "view"', 1)
    calls, errors = read(as_view)
    # the first call is now a view; a second call in the reply (run_tests then submit) is kept
    assert [c["name"] for c in calls] == ["view"] + [n for n, _ in same[0][1:]] and not errors
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from patchloop.agent.call_repair import repair_arguments
    from patchloop.agent.tools import SandboxTools, langchain_tools

    schema = next(convert_to_openai_tool(t)["function"]["parameters"] for t in langchain_tools(SandboxTools(None))
                  if t.name == "view")
    fixed, notes, error = repair_arguments("view", calls[0]["args"], schema)
    # the model's own arguments do not fit `view`: each stray key is named, the missing path asked for
    assert error is None or error.startswith("view needs 'path'")
    assert all(k in ("path", "start", "end") for k in fixed)
    cut = as_view[: as_view.index("{") + 12]
    calls, errors = read(f"<tool_call>\n{cut[cut.index('{'):]}\n</tool_call>")
    assert not calls and errors and "not valid JSON" in errors[0]["error"]
