"""Per-test status from pytest's JUnit XML, mapped back to pytest node ids.

Why JUnit XML and not the terminal output: text like ``PASSED tests/x.py::t`` can be printed
by the code under test; the XML is written by pytest itself to a file the grader names.

JUnit stores ``classname`` and ``name``, not node ids. pytest derives them with
``mangle_test_address``: split at the first ``[`` (parameters may contain ``::``, dots,
spaces and brackets), path ``/`` -> ``.``, ``.py`` dropped, classes joined with dots.
``junit_key`` is the same function, so an expected node id is found by computing its key
rather than by parsing ``classname`` back (which is ambiguous: a dot may be a package or a
class). With ``junit_family=xunit1`` the ``file`` attribute is there too and the exact node
id is rebuilt for ids nobody asked about.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

PASSED, FAILED, ERROR, SKIPPED = "PASSED", "FAILED", "ERROR", "SKIPPED"
# Worst wins when one test has several entries (a passing call plus a teardown error).
_RANK = {PASSED: 0, SKIPPED: 1, FAILED: 2, ERROR: 3}
MAX_XML_BYTES = 32 * 1024 * 1024


class JUnitError(ValueError):
    """The report is not a pytest JUnit XML we can trust (malformed, hostile, too big)."""


def _key(path: str, names: list[str], params: str) -> tuple[str, str]:
    parts = [re.sub(r"\.py$", "", path.replace("/", ".")), *names]
    parts[-1] += params
    return ".".join(parts[:-1]), parts[-1]


def junit_key(node_id: str) -> tuple[str, str]:
    """(classname, name) that pytest's junitxml (pytest >= 9.1) writes for ``node_id``:
    the path ends at the first ``::`` (so a path may hold ``[``), params at the next ``[``."""
    path, sep, tail = node_id.partition("::")
    if not sep:
        return _key(path, [], "")[0], ""
    name_part, bracket, params = tail.partition("[")
    return _key(path, name_part.split("::"), bracket + params)


def legacy_junit_key(node_id: str) -> tuple[str, str]:
    """The same for pytest < 9.1, which split the params off first (differs only for
    paths containing ``[``); environment images may carry either."""
    path, bracket, params = node_id.partition("[")
    first, *names = path.split("::")
    return _key(first, names, bracket + params) if names else _key("", [first], bracket + params)


def _status(case: ET.Element) -> str:
    tags = {child.tag for child in case}
    if "error" in tags:
        return ERROR
    if "failure" in tags:
        return FAILED
    if "skipped" in tags:
        return SKIPPED
    return PASSED


def _worse(a: str | None, b: str) -> str:
    return b if a is None or _RANK[b] > _RANK[a] else a


def parse_junit(xml_text: str | bytes) -> dict[tuple[str, str], str]:
    """Map (classname, name) -> status for every ``testcase`` in the report."""
    data = xml_text.encode("utf-8") if isinstance(xml_text, str) else xml_text
    if len(data) > MAX_XML_BYTES:
        raise JUnitError(f"report is {len(data)} bytes, over the {MAX_XML_BYTES} limit")
    # pytest never writes a DTD; refusing one rules out entity-expansion tricks.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise JUnitError("report contains a DTD or entity declaration")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise JUnitError(f"malformed XML ({e})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitError(f"root element is <{root.tag}>, not <testsuites>/<testsuite>")
    out: dict[tuple[str, str], str] = {}
    for case in root.iter("testcase"):
        key = (case.get("classname", ""), case.get("name", ""))
        out[key] = _worse(out.get(key), _status(case))
    return out


def statuses_for(report: dict[tuple[str, str], str], node_ids: list[str]) -> dict[str, str]:
    """Status of each expected node id; an id absent from the report is FAILED
    (a test that did not run did not pass)."""
    out = {}
    for nid in node_ids:
        key = junit_key(nid)
        out[nid] = report.get(key) or report.get(legacy_junit_key(nid), FAILED)
    return out


def counts(report: dict[tuple[str, str], str]) -> dict[str, int]:
    out = {s: 0 for s in _RANK}
    for status in report.values():
        out[status] += 1
    return out
