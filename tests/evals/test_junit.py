"""JUnit XML -> node id statuses, against real pytest runs and pytest's own mangling."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from _pytest.junitxml import mangle_test_address
from hypothesis import given
from hypothesis import strategies as st

from patchloop.evals.junit import JUnitError, junit_key, parse_junit, statuses_for

NASTY_IDS = ["hello world", "brackets [x] and spaces", "a::b", "", "x.y.z", "q'uote\"", "[[]]", "tab\there"]

TEST_FILE = '''
import pytest

IDS = {ids!r}

@pytest.mark.parametrize("i", range(len(IDS)), ids=IDS)
def test_param(i):
    assert i % 2 == 0

class TestBox:
    class TestInner:
        def test_nested(self):
            pass

    def test_skipped(self):
        pytest.skip("no")

    @pytest.mark.xfail(reason="known")
    def test_xfail(self):
        assert False

@pytest.fixture
def broken():
    yield
    raise RuntimeError("teardown")

def test_teardown_error(broken):
    pass
'''


@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("junit")
    (root / "pkg.dir").mkdir()
    (root / "pkg.dir" / "test_ids.py").write_text(TEST_FILE.format(ids=NASTY_IDS))
    xml = root / "r.xml"
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                    "-o", "junit_family=xunit1", "--rootdir", str(root), str(root)],
                   cwd=root, env=env, capture_output=True, check=False)
    return parse_junit(xml.read_text())


def test_parametrized_ids_with_spaces_brackets_and_colons_map_back(real_report):
    ids = [f"pkg.dir/test_ids.py::test_param[{name}]" for name in NASTY_IDS]
    got = statuses_for(real_report, ids)
    assert got == {nid: ("PASSED" if i % 2 == 0 else "FAILED") for i, nid in enumerate(ids)}


def test_nested_classes_skip_xfail_and_teardown_error(real_report):
    got = statuses_for(real_report, [
        "pkg.dir/test_ids.py::TestBox::TestInner::test_nested",
        "pkg.dir/test_ids.py::TestBox::test_skipped",
        "pkg.dir/test_ids.py::TestBox::test_xfail",
        "pkg.dir/test_ids.py::test_teardown_error",
        "pkg.dir/test_ids.py::test_not_there",
    ])
    assert list(got.values()) == ["PASSED", "SKIPPED", "SKIPPED", "ERROR", "FAILED"]


@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=12), min_size=1, max_size=4),
       st.text(st.sampled_from("ab[] :.-"), max_size=10))
def test_junit_key_matches_pytest_mangling(parts, params):
    node_id = "/".join(p.replace("::", "") or "d" for p in parts) + ".py::Cls::test_x" + f"[{params}]"
    names = mangle_test_address(node_id)
    assert junit_key(node_id) == (".".join(names[:-1]), names[-1])


@given(st.text(st.characters(min_codepoint=32, max_codepoint=0xD7FF), max_size=20))
def test_any_name_round_trips_through_xml(name):
    suite = ET.Element("testsuite")
    case = ET.SubElement(suite, "testcase", classname="tests.test_a", name=f"test_p[{name}]")
    ET.SubElement(case, "failure")
    report = parse_junit(ET.tostring(suite))
    assert statuses_for(report, [f"tests/test_a.py::test_p[{name}]"]) == {f"tests/test_a.py::test_p[{name}]": "FAILED"}


@pytest.mark.parametrize("bad, why", [
    (b"<testsuite><testcase", "malformed"),
    (b"<html/>", "root element"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite/>', "DTD"),
])
def test_untrustworthy_reports_are_rejected(bad, why):
    with pytest.raises(JUnitError, match=why):
        parse_junit(bad)
