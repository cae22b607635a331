"""Arguments that almost match a tool's schema, mended before the tool runs.

Small models call ``view`` with ``file_path``, ``"start": "551"`` or a stray ``"reason"``
key. Refusing such a call costs a whole step (40-130 s on a CPU) for a mistake with one
obvious reading, so :func:`repair_arguments` maps a misnamed argument to the parameter it
clearly means, converts scalars to the declared type, and drops keys the tool does not
take; each fix is reported back to the model as a note so it learns the real names. What
has no obvious reading (a required argument missing, ``"start": "abc"``) is an error that
names the argument and shows the tool's signature.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

# Names small models use for our parameters, seen in their replies and in other agents' tools.
ALIASES: dict[str, tuple[str, ...]] = {
    "path": ("file", "file_path", "filepath", "filename", "file_name", "dir", "directory", "target_file", "relative_path"),
    "start": ("start_line", "line_start", "from_line", "begin", "first_line", "line", "offset", "view_range_start"),
    "end": ("end_line", "line_end", "to_line", "last_line", "stop"),
    "pattern": ("query", "regex", "search", "search_term", "term", "text", "keyword"),
    "query": ("pattern", "keywords", "terms", "search"),
    "old": ("old_str", "old_string", "old_text", "search", "find", "original", "before", "old_code"),
    "new": ("new_str", "new_string", "new_text", "replace", "replacement", "after", "new_code"),
    "content": ("text", "file_text", "contents", "code", "data", "body"),
    "command": ("cmd", "shell", "bash", "script", "commands"),
    "selector": ("test", "tests", "test_path", "test_file", "path", "target", "test_name", "file"),
}


def signature(name: str, schema: dict) -> str:
    """``view(path: string, start?: integer, end?: integer)``: how errors show a tool."""
    props, required = schema.get("properties", {}), set(schema.get("required", []))
    params = [f"{p}{'' if p in required else '?'}: {_type_of(spec) or 'any'}" for p, spec in props.items()]
    return f"{name}({', '.join(params)})"


def repair_arguments(name: str, args: dict[str, Any], schema: dict) -> tuple[dict[str, Any], list[str], str | None]:
    """Return ``(args, notes, error)``: the mended arguments, what was changed, or why the
    call cannot run (then ``args`` is what could be mended so far)."""
    props: dict = schema.get("properties", {})
    required = list(schema.get("required", []))
    out: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in args.items():
        target = key if key in props else _meant(key, props, args)
        if target is None:
            notes.append(f"{name} takes no argument {key!r}; it was ignored")
            continue
        if target in out:
            notes.append(f"{key!r} was ignored: {target!r} is already given")
            continue
        if target != key:
            notes.append(f"argument {key!r} was taken as {target!r}")
        out[target] = value
    for key in list(out):
        value, problem = _coerce(out[key], props[key])
        if problem:
            return out, notes, f"argument {key!r} of {name} {problem}; the tool is {signature(name, schema)}"
        if value is None and key not in required:
            del out[key]
            continue
        if value is not out[key] and not isinstance(out[key], bool) and value != out[key]:
            notes.append(f"{key!r} was converted to {_type_of(props[key])}")
        out[key] = value
    missing = [p for p in required if p not in out]
    if missing:
        what = ", ".join(f"{p!r}" for p in missing)
        return out, notes, f"{name} needs {what}; the tool is {signature(name, schema)}"
    return out, notes, None


def _meant(key: str, props: dict, given: dict) -> str | None:
    """The parameter a misnamed argument stands for, when only one reading is plausible."""
    low = key.lower().replace("-", "_")
    if low in props:
        return low
    for param, aliases in ALIASES.items():
        if param in props and low in aliases and param not in given:
            return param
    close = difflib.get_close_matches(low, [p for p in props if p not in given], n=1, cutoff=0.75)
    return close[0] if close else None


def _type_of(spec: dict) -> str:
    if "type" in spec:
        return spec["type"]
    kinds = [s.get("type") for s in spec.get("anyOf", []) if s.get("type") not in (None, "null")]
    return kinds[0] if kinds else ""


def _coerce(value: Any, spec: dict) -> tuple[Any, str | None]:
    """``"551"`` -> 551 for an integer, 3 -> "3" for a string, and so on; None for null."""
    kind = _type_of(spec)
    if value is None:
        return None, None
    try:
        if kind == "integer":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and value.is_integer():
                return int(value), None
            return (value, None) if isinstance(value, int) else (int(str(value).strip()), None)
        if kind == "number":
            return (value, None) if isinstance(value, (int, float)) and not isinstance(value, bool) else (float(str(value)), None)
        if kind == "string":
            if isinstance(value, str):
                return value, None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value), None
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return "\n".join(value), None  # a file's lines given as a list
            return None, f"must be a string, got {json.dumps(value)[:80]}"
        if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true", None
    except ValueError:
        return None, f"must be {'an' if kind == 'integer' else 'a'} {kind}, got {json.dumps(value)[:80]}"
    return value, None


def salvage_message(ai, tool_names) -> Any:
    """``ai`` with the calls a strict parser missed read out of its text (see
    :mod:`patchloop.llm.toolcalls.salvage`); unchanged when it already calls a tool or
    holds nothing call-like. The text as sampled stays in ``response_metadata``."""
    from patchloop.llm.toolcalls.salvage import salvage_tool_calls

    if ai.tool_calls or not isinstance(ai.content, str):
        return ai
    got = salvage_tool_calls(ai.content, tool_names)
    if not got.tool_calls and not got.invalid_tool_calls:
        return ai
    meta = {**(ai.response_metadata or {}), "raw_content": ai.content}
    return ai.model_copy(update={"content": got.content, "tool_calls": got.tool_calls,
                                 "invalid_tool_calls": [*ai.invalid_tool_calls, *got.invalid_tool_calls],
                                 "response_metadata": meta})
