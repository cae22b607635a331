"""Tool-call parsing over well-formed, malformed, partial and adversarial model output."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchloop.llm.toolcalls.parse import (
    CLOSE,
    MAX_CALL_CHARS,
    MAX_CALLS,
    OPEN,
    format_tool_call,
    parse_tool_calls,
)

names = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
args_st = st.dictionaries(st.text(max_size=10), json_values, max_size=4)
# Content that cannot itself contain a tag.
plain = st.text(max_size=60).filter(lambda t: "<tool_call>" not in t and "</tool_call>" not in t)
# Text built from the pieces most likely to confuse a parser.
tricky = st.lists(
    st.sampled_from([OPEN, CLOSE, "{", "}", '"name"', ":", '"arguments"', "[", "]", ",", '"x"', "null", "\n", " "])
    | st.text(max_size=12),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), tricky))
def test_never_raises_and_every_tag_is_accounted_for(text):
    out = parse_tool_calls(text)
    assert isinstance(out.content, str)
    for call in out.tool_calls:
        assert isinstance(call["name"], str) and isinstance(call["args"], dict) and call["id"]
    for bad in out.invalid_tool_calls:
        assert bad["error"].startswith("tool call ") and bad["id"]
    # Every opening tag became exactly one call, valid or not.
    assert len(out.tool_calls) + len(out.invalid_tool_calls) == min(text.count(OPEN), MAX_CALLS + 1)


@settings(max_examples=200, deadline=None)  # a loaded CI machine is no parser bug
@given(plain, st.lists(st.tuples(names, args_st), max_size=4))
def test_round_trip_of_well_formed_calls(content, calls):
    text = content + "".join("\n" + format_tool_call(n, a) for n, a in calls)
    out = parse_tool_calls(text)
    assert out.invalid_tool_calls == []
    assert [(c["name"], c["args"]) for c in out.tool_calls] == calls
    assert out.content == content.strip()
    assert len({c["id"] for c in out.tool_calls}) == len(calls)


@given(names, args_st, st.integers(min_value=1, max_value=40))
def test_truncated_call_is_an_error_never_an_exception(name, args, cut):
    text = format_tool_call(name, args)
    body_end = len(text) - len("\n" + CLOSE)
    out = parse_tool_calls(text[: max(len(OPEN) + 1, body_end - cut)])
    assert out.tool_calls == [] and len(out.invalid_tool_calls) == 1


@pytest.mark.parametrize(
    "text, error_part",
    [
        (f"{OPEN}{{bad json{CLOSE}", "not valid JSON"),
        (f"{OPEN}[1, 2]{CLOSE}", "must be a JSON object, got list"),
        (f'{OPEN}{{"arguments": {{}}}}{CLOSE}', 'no "name" string'),
        (f'{OPEN}{{"name": 7, "arguments": {{}}}}{CLOSE}', 'no "name" string'),
        (f'{OPEN}{{"name": "run", "arguments": [1]}}{CLOSE}', "must be a JSON object, got list"),
        (f'{OPEN}{{"name": "run", "arguments": "{{nope"}}{CLOSE}', "string that is not valid JSON"),
        (f'{OPEN}{{"name": "run", "arguments": {{"x": NaN}}}}{CLOSE}', "not valid JSON"),
        (f"{OPEN}" + "[" * 100_000 + CLOSE, "not valid JSON"),
        (f'{OPEN}{{"name": "a", "arguments": {{}}}}', None),  # closing tag cut by a stop sequence
        (f'{OPEN}{{"name": "a"', "never closed"),
    ],
)
def test_malformed_calls_give_errors_the_model_can_read(text, error_part):
    out = parse_tool_calls(text)
    if error_part is None:
        assert [c["name"] for c in out.tool_calls] == ["a"] and not out.invalid_tool_calls
        return
    assert out.tool_calls == []
    [bad] = out.invalid_tool_calls
    assert error_part in bad["error"] and '"arguments"' in bad["error"]  # the hint shows the format
    assert len(bad["args"]) < 400  # a huge body is not echoed back whole


def test_nested_tags_yield_the_inner_call_and_an_error_for_the_outer():
    out = parse_tool_calls(f'{OPEN}{OPEN}{{"name": "a", "arguments": {{"k": 1}}}}{CLOSE}{CLOSE} tail')
    assert [(c["name"], c["args"]) for c in out.tool_calls] == [("a", {"k": 1})]
    [bad] = out.invalid_tool_calls
    assert "opened again" in bad["error"]


def test_openai_style_string_arguments_and_code_fences_are_accepted():
    out = parse_tool_calls(f'{OPEN}```json\n{{"name": "a", "arguments": "{{\\"k\\": 2}}"}}\n```{CLOSE}')
    assert [(c["name"], c["args"]) for c in out.tool_calls] == [("a", {"k": 2})]


def test_unknown_tool_names_become_invalid_calls_naming_the_real_tools():
    out = parse_tool_calls(format_tool_call("rnu", {}) + format_tool_call("run", {"cmd": "ls"}), tool_names={"run", "view"})
    assert [c["name"] for c in out.tool_calls] == ["run"]
    [bad] = out.invalid_tool_calls
    assert "unknown tool 'rnu'" in bad["error"] and "run, view" in bad["error"]


def test_huge_and_runaway_outputs_are_bounded():
    big = f'{OPEN}{{"name": "a", "arguments": {{"x": "{"y" * (MAX_CALL_CHARS + 10)}"}}}}{CLOSE}'
    [bad] = parse_tool_calls(big).invalid_tool_calls
    assert "characters long" in bad["error"]
    many = format_tool_call("a", {}) * (MAX_CALLS + 50)
    out = parse_tool_calls(many)
    assert len(out.tool_calls) == MAX_CALLS
    assert "more than" in out.invalid_tool_calls[-1]["error"]


def test_non_string_input_does_not_raise():
    assert parse_tool_calls(None).content == ""
    assert parse_tool_calls(b"x").content == "b'x'"
    assert json.loads(json.dumps(parse_tool_calls(f"{OPEN}{{").invalid_tool_calls))  # JSON-safe
