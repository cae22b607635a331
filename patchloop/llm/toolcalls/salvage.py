"""Tool calls as small models really write them, when they miss the ``<tool_call>`` format.

Seen from Qwen2.5-Coder 0.5B/1.5B behind an OpenAI-compatible server: a call inside a
```` ```json ```` fence, two calls in a ``<tools>`` wrapper, a bare JSON object, Llama- or
Qwen3-style ``<function=view>...</function>``, a Python-ish ``submit()``, or just the word
``submit``. A strict server-side parser (vLLM's hermes parser, ``patchloop serve``) leaves
all of these as plain content, and an agent that ignores them burns its steps answering
"you did not call a tool". :func:`salvage_tool_calls` reads them back as calls.

It only ever looks at content that held no valid call, and it only takes what names a
known tool, so prose or a JSON file the model quotes does not turn into a call. Something
that clearly tried to be a call and still cannot be read becomes an ``InvalidToolCall``
whose error says what was wrong, for the model to fix on its next turn. Never raises.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Collection
from typing import Any

from langchain_core.messages.tool import invalid_tool_call, tool_call

from patchloop.llm.toolcalls.parse import MAX_CALL_CHARS, MAX_CALLS, ParsedOutput, new_call_id

_DECODER = json.JSONDecoder(strict=False)  # raw newlines inside strings: models write code that way
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)(?:```|\Z)", re.S)
_FUNCTION = re.compile(r"<function[=\s]+[\"']?([A-Za-z_][\w.-]*)[\"']?\s*>(.*?)(?:</function>|(?=<function[=\s])|\Z)", re.S)
_PARAM = re.compile(r"<parameter[=\s]+[\"']?([A-Za-z_]\w*)[\"']?\s*>\n?(.*?)\n?(?:</parameter>|(?=<parameter[=\s])|\Z)", re.S)
_PYCALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(([^()]*)\)")
# Wrappers models put around calls; once the calls are taken out they are noise, not content.
_WRAPPERS = re.compile(r"</?(?:tools?|tool_calls?|function_calls?|functioncall|calls?)>|\[/?TOOL_CALLS\]|<\|?/?tool_call\|?>", re.I)
_NAME_KEYS = ("name", "tool", "tool_name", "function", "action")
_ARG_KEYS = ("arguments", "parameters", "args", "input", "params", "action_input")
MAX_SCAN_CHARS = 400_000  # beyond this a reply is junk; scan only its head


def salvage_tool_calls(text: Any, tool_names: Collection[str]) -> ParsedOutput:
    """Read the calls out of a reply that holds no ``<tool_call>`` block (see module doc)."""
    text = text if isinstance(text, str) else ("" if text is None else str(text))
    names = set(tool_names)
    if not names or not text.strip():
        return ParsedOutput(text.strip())
    found: list[tuple[int, int, dict]] = []  # (start, end, call) in text order
    taken: list[tuple[int, int]] = []
    head = text[:MAX_SCAN_CHARS]
    for finder in (_function_tags, _fenced, _bare_json, _python_calls):
        for start, end, call in finder(head, names, taken):
            found.append((start, end, call))
            taken.append((start, end))
    if not found:
        bare = _bare_name(head, names)
        if bare:
            found.append((0, len(text), bare))
            taken.append((0, len(text)))
    found.sort(key=lambda x: x[0])
    valid, invalid = [], []
    for _, _, call in found[:MAX_CALLS]:
        (invalid if "error" in call else valid).append(call)
    content = _leftover(text, taken)
    return ParsedOutput(content, valid, invalid)


def _overlaps(start: int, end: int, taken: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in taken)


def _call_from_obj(obj: Any, names: set[str], where: str) -> dict | None:
    """A call from a decoded object, an error call for a near miss, None when it is no call."""
    if isinstance(obj, dict) and isinstance(obj.get("function"), dict):  # OpenAI's own shape
        obj = obj["function"]
    if not isinstance(obj, dict):
        return None
    name_key = next((k for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
    if name_key is None:
        return None
    name = obj[name_key].strip()
    arg_key = next((k for k in _ARG_KEYS if k in obj), None)
    if arg_key is None:  # {"name": "view", "path": "a.py"}: the arguments at the top level
        args: Any = {k: v for k, v in obj.items() if k not in (name_key, "type", "id")}
    else:
        args = obj[arg_key]
    if isinstance(args, str):
        try:
            args = _DECODER.decode(args) if args.strip() else {}
        except ValueError:
            return _error(name, args, f'{where} gives "{arg_key}" of {name!r} as a string that is not a JSON object')
    if args is None:
        args = {}
    if name not in names:
        if arg_key is None:
            return None  # a dict that merely has a "name" field, e.g. quoted data
        return _error(name, args, f"{where} calls unknown tool {name!r}; the tools are: {', '.join(sorted(names))}")
    if not isinstance(args, dict):
        return _error(name, args, f'{where}: the arguments of {name!r} must be a JSON object, got {type(args).__name__}')
    return tool_call(name=name, args=args, id=new_call_id())


def _error(name: str | None, args: Any, msg: str) -> dict:
    shown = args if isinstance(args, str) else json.dumps(args, default=str)
    hint = 'Write the call as <tool_call>\n{"name": "<tool>", "arguments": {...}}\n</tool_call>.'
    return invalid_tool_call(name=name, args=shown[:300], id=new_call_id(), error=f"{msg}. {hint}")


def _json_objects(body: str, offset: int):
    """Every top-level JSON object in ``body``, as (start, end, obj); bad ones as (start, end, ValueError)."""
    i = body.find("{")
    while 0 <= i:
        try:
            obj, end = _DECODER.raw_decode(body, i)
        except (ValueError, RecursionError) as e:
            yield offset + i, offset + i + 1, e if isinstance(e, ValueError) else ValueError("nested too deeply")
            i = body.find("{", i + 1)
            continue
        yield offset + i, offset + end, obj
        i = body.find("{", end)


def _fenced(text: str, names: set[str], taken) -> list:
    out = []
    for m in _FENCE.finditer(text):
        lang, body = m.group(1).lower(), m.group(2)
        if _overlaps(m.start(), m.end(), taken) or lang not in ("", "json", "json5", "tool_call", "tool", "python", "py"):
            continue
        calls = []
        for _, _, obj in _json_objects(body, 0):
            call = None if isinstance(obj, ValueError) else _call_from_obj(obj, names, "the ```json block")
            if call is not None:
                calls.append(call)
        stripped = body.strip()
        if not calls and stripped.startswith("{") and ('"name"' in stripped or "'name'" in stripped):
            calls = [_loose_object(stripped, names)]
        out += [(m.start(), m.end(), c) for c in calls if len(body) <= MAX_CALL_CHARS]
    return out


def _loose_object(body: str, names: set[str]) -> dict:
    """A fenced object that is not JSON: a Python dict literal works; otherwise say why not."""
    try:
        obj = ast.literal_eval(body)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        obj = None
    call = _call_from_obj(obj, names, "the ```json block") if obj is not None else None
    if call is not None:
        return call
    try:
        _DECODER.decode(body)
        problem = "is not a tool call"
    except ValueError as e:
        problem = f"is not valid JSON ({e})"
    except RecursionError:
        problem = "is nested too deeply"
    return _error(None, body, f"your ```json block {problem}")


def _bare_json(text: str, names: set[str], taken) -> list:
    out = []
    for start, end, obj in _json_objects(text, 0):
        if isinstance(obj, ValueError) or _overlaps(start, end, taken) or end - start > MAX_CALL_CHARS:
            continue
        call = _call_from_obj(obj, names, "the JSON object in your reply")
        if call is not None:
            out.append((start, end, call))
    return out


def _function_tags(text: str, names: set[str], taken) -> list:
    """``<function=view>{"path": "a"}</function>`` or ``<function=view><parameter=path>a</parameter>``."""
    out = []
    for m in _FUNCTION.finditer(text):
        name, body = m.group(1), m.group(2).strip()
        if name not in names:
            out.append((m.start(), m.end(), _error(name, body, f"<function={name}> names no tool; the tools are: "
                                                   f"{', '.join(sorted(names))}")))
            continue
        params = {p.group(1): p.group(2) for p in _PARAM.finditer(body)}
        if params or not body:
            out.append((m.start(), m.end(), tool_call(name=name, args=params, id=new_call_id())))
            continue
        try:
            args = _DECODER.decode(body)
        except ValueError as e:
            out.append((m.start(), m.end(), _error(name, body, f"the arguments in <function={name}> are not valid JSON ({e})")))
            continue
        if isinstance(args, dict):
            out.append((m.start(), m.end(), tool_call(name=name, args=args, id=new_call_id())))
        else:
            out.append((m.start(), m.end(), _error(name, body, f"the arguments in <function={name}> must be a JSON object")))
    return out


def _python_calls(text: str, names: set[str], taken) -> list:
    """``submit()`` or ``view(path="a.py", start=3)``: keyword arguments with literal values only."""
    out = []
    for m in _PYCALL.finditer(text):
        if m.group(1) not in names or _overlaps(m.start(), m.end(), taken):
            continue
        if re.search(r"\b(?:def|class)\s+$", text[max(0, m.start() - 8):m.start()]):
            continue  # a definition the model quotes, not a call
        try:
            node = ast.parse(m.group(0), mode="eval").body
            args = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue  # code that happens to mention a tool name, not a call
        if node.args:
            continue
        out.append((m.start(), m.end(), tool_call(name=m.group(1), args=args, id=new_call_id())))
    return out


def _bare_name(text: str, names: set[str]) -> dict | None:
    """A reply that is only a tool's name (``submit``, `` `submit` ``, ``Action: submit.``)."""
    last = next((ln for ln in reversed(text.strip().splitlines()) if ln.strip()), "")
    word = re.sub(r"^(?:action|tool|call)\s*:\s*", "", last.strip().strip("`*\"'").strip(), flags=re.I).rstrip(".!")
    whole = text.strip().strip("`*\"'").strip().rstrip(".!")
    for cand in (whole, word):
        if cand in names:
            return tool_call(name=cand, args={}, id=new_call_id())
    return None


def _leftover(text: str, taken: list[tuple[int, int]]) -> str:
    """The reply without the calls and the wrappers around them."""
    if not taken:
        return text.strip()
    parts, pos = [], 0
    for s, e in sorted(taken):
        if s >= pos:
            parts.append(text[pos:s])
            pos = e
        else:
            pos = max(pos, e)
    parts.append(text[pos:])
    return _WRAPPERS.sub("", "".join(parts)).strip()
