"""Strict plain-data codec and framed pipes, shared by the in-sandbox fork server and the host.

Standard library only: this file is copied into sandboxes with ``func_server.py`` and its modules.
Only builtin plain types cross a pipe (exact types, no subclasses), so a candidate's return
value can be compared, but cannot *compare itself* (no lying ``__eq__`` survives ``decode``).
"""

from __future__ import annotations

import base64
import json
import math
import os
import select
import struct
import time

MAX_FRAME = 1 << 20  # bytes a candidate may send for one return value
MAX_ITEMS = 100_000  # plain-data nodes in one value
MAX_DEPTH = 100

# ------------------------------------------------------------------ strict plain-data codec


class CodecError(ValueError):
    """A value that is not plain data (or is too big / too deep)."""


def encode(value, _depth=0, _count=None):
    """Plain data -> JSON-able tagged form. Exact types only: subclasses are refused, so an
    ``int`` subclass with a lying ``__eq__`` never reaches a comparison."""
    count = _count if _count is not None else [0]
    count[0] += 1
    if count[0] > MAX_ITEMS or _depth > MAX_DEPTH:
        raise CodecError("value too large or too deep")
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        return value if math.isfinite(value) else {"__f": repr(value)}
    if t is list:
        return [encode(v, _depth + 1, count) for v in value]
    if t is tuple:
        return {"__t": [encode(v, _depth + 1, count) for v in value]}
    if t is set or t is frozenset:
        return {"__s" if t is set else "__fs": [encode(v, _depth + 1, count) for v in value]}
    if t is dict:
        return {"__d": [[encode(k, _depth + 1, count), encode(v, _depth + 1, count)] for k, v in value.items()]}
    if t is bytes:
        return {"__b": base64.b64encode(value).decode()}
    if t is complex:
        return {"__c": [encode(value.real), encode(value.imag)]}
    raise CodecError(f"not plain data: {t.__name__}")


def decode(data, _depth=0):
    """Inverse of ``encode``; builds only builtin plain types."""
    if _depth > MAX_DEPTH:
        raise CodecError("value too deep")
    t = type(data)
    if data is None or t in (bool, int, float, str):
        return data
    if t is list:
        return [decode(v, _depth + 1) for v in data]
    if t is dict and len(data) == 1:
        (tag, body), = data.items()
        if tag == "__f" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "__b" and type(body) is str:
            return base64.b64decode(body)
        if type(body) is list:
            items = [decode(v, _depth + 1) for v in body]
            if tag == "__t":
                return tuple(items)
            if tag == "__s":
                return set(items)
            if tag == "__fs":
                return frozenset(items)
            if tag == "__c" and len(items) == 2:
                return complex(items[0], items[1])
            if tag == "__d" and all(type(p) is list and len(p) == 2 for p in items):
                return {k: v for k, v in items}
    raise CodecError("malformed encoded value")


def values_equal(got, expected, rel_tol=1e-6, abs_tol=1e-9) -> bool:
    """Structured-test comparison on the host: floats within tolerance, lists and tuples
    interchangeable (JSON files cannot tell them apart), bool distinct from int."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        if isinstance(expected, float) or isinstance(got, float):
            if math.isnan(expected) or math.isnan(got):
                return math.isnan(expected) and math.isnan(got)
            return math.isclose(got, expected, rel_tol=rel_tol, abs_tol=abs_tol)
        return got == expected
    if isinstance(expected, (list, tuple)):
        return (isinstance(got, (list, tuple)) and len(got) == len(expected)
                and all(values_equal(g, e, rel_tol, abs_tol) for g, e in zip(got, expected)))
    if isinstance(expected, dict):
        return (isinstance(got, dict) and set(got) == set(expected)
                and all(values_equal(got[k], expected[k], rel_tol, abs_tol) for k in expected))
    return type(got) is type(expected) and got == expected


# ------------------------------------------------------------------ framed pipes


def send(fd, obj) -> None:
    data = json.dumps(obj).encode()
    msg = struct.pack(">I", len(data)) + data
    while msg:
        msg = msg[os.write(fd, msg):]


def recv(fd, deadline):
    """One frame, or None at EOF; raises TimeoutError past ``deadline`` (monotonic; None: wait)."""
    head = _read_exact(fd, 4, deadline)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise CodecError("reply larger than the frame limit")
    body = _read_exact(fd, size, deadline)
    if body is None:
        return None
    return json.loads(body)


def _read_exact(fd, n, deadline):
    buf = b""
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf
