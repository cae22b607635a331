"""The function-level grader's semantics, on the real local backend (Docker runs in test_func_hacks)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchloop.evals.func.codec import CodecError, decode, encode, values_equal
from patchloop.evals.func.grade import ERROR, FAIL, PASS, build_program, grade_function_batch
from patchloop.types import FunctionTask

HELPER = FunctionTask(
    "he/helper", 'import math\n\ndef twice(x):\n    return 2 * x\n\ndef f(x):\n    """twice(x) + 1"""\n', "f",
    "def check(candidate):\n    assert candidate(1) == twice(1) + 1\n    assert candidate(5) == 11\n")
RAISES = FunctionTask(
    "he/raises", 'def parse(s):\n    """int(s); ValueError on junk"""\n', "parse",
    "def check(candidate):\n    assert candidate('7') == 7\n    try:\n        candidate('x')\n    except ValueError:\n"
    "        pass\n    else:\n        assert False\n")
NO_CALL = FunctionTask("he/nocall", 'def g():\n    """x"""\n', "g", "def check(candidate):\n    assert True\n")
MBPP = FunctionTask("mbpp/1", "Write a function to find the shared elements of two lists.", "similar_elements",
                    extra={"test_list": ["assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))",
                                         "assert similar_elements((1, 2), (2, 3)) == (2,)",
                                         "assert similar_elements((1,), (2,)) == ()"]})
CASES = FunctionTask("gen/c", 'def h(x):\n    """..."""\n', "h", extra={"cases": [
    {"args": [[1, 2]], "expected": [2, 1]}, {"args": [0.1], "expected": 0.30000000000000004},
    {"args": [True], "expected": False}, {"args": ["k"], "expected": {"k": 1}}]})
H_OK = ("    if isinstance(x, list): return tuple(reversed(x))\n    if isinstance(x, bool): return not x\n"
        "    if isinstance(x, float): return x * 3\n    return {x: 1}\n")
H_INT_FOR_BOOL = H_OK.replace("return not x", "return 0")

SAMPLES = [
    ("helper_body", HELPER, "    return twice(x) + 1\n", PASS, 1.0),
    ("helper_whole_function", HELPER, "def f(x):\n    return twice(x) + 1\n", PASS, 1.0),
    ("fenced_chat_answer", HELPER, "Here:\n```python\ndef f(x):\n    return twice(x) + 1\n```\nDone.", PASS, 1.0),
    ("wrong", HELPER, "    return x\n", FAIL, 0.0),
    ("expected_exception", RAISES, "    return int(s)\n", PASS, 1.0),
    ("missing_exception", RAISES, "    return 7\n", FAIL, 0.5),
    ("check_partial", HELPER, "    return 3\n", FAIL, 0.5),
    ("syntax_error", HELPER, "    return (\n", FAIL, 0.0),
    ("missing_entry_point", HELPER, "def other(x):\n    return 1\n", FAIL, 0.0),
    ("test_that_never_calls", NO_CALL, "    return 1\n", FAIL, 0.0),
    ("mbpp_all", MBPP, "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n", PASS, 1.0),
    ("mbpp_partial", MBPP, "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b))) or (9,)\n", FAIL, 2 / 3),
    ("cases_all", CASES, H_OK, PASS, 1.0),
    ("cases_int_is_not_bool", CASES, H_INT_FOR_BOOL, FAIL, 3 / 4),
]


@pytest.fixture(scope="module")
def graded():
    from patchloop.sandbox import open_sandbox

    with open_sandbox("local", task_id="func-grader-tests") as sb:
        results = grade_function_batch([s[1] for s in SAMPLES], [s[2] for s in SAMPLES], sandbox=sb,
                                       timeout_s=3.0, partial=True)
        strict = grade_function_batch(MBPP, [next(s[2] for s in SAMPLES if s[0] == "mbpp_partial")], sandbox=sb, timeout_s=3.0, partial=False)
    return dict(zip([s[0] for s in SAMPLES], results)), strict[0]


@pytest.mark.parametrize("name,status,fraction", [(s[0], s[3], s[4]) for s in SAMPLES])
def test_verdicts(graded, name, status, fraction):
    result = graded[0][name]
    assert result.status == status, result
    assert result.passed == (status == PASS)
    assert result.fraction == pytest.approx(fraction)
    assert not result.infra_error


def test_partial_credit_only_when_asked(graded):
    assert graded[1].status == FAIL and graded[1].fraction == 0.0


def test_body_is_appended_and_whole_function_keeps_prompt_helpers():
    assert build_program(HELPER, "    return 1\n").endswith('"""\n    return 1\n')
    whole = build_program(HELPER, "def f(x):\n    return 1\n")
    assert whole.startswith("import math") and whole.endswith("def f(x):\n    return 1\n")


def test_task_without_tests_is_an_error_not_a_failure():
    bare = FunctionTask("t/none", "def f():\n    pass\n", "f")
    (res,) = grade_function_batch([bare], ["    return 1\n"], backend="local")
    assert res.status == ERROR and res.infra_error


def test_cases_as_json_text_from_a_dataset_column_and_malformed_cases():
    import json

    as_text = FunctionTask("gen/t", 'def inc(x):\n    """x + 1"""\n', "inc",
                           extra={"cases": json.dumps([{"args": [1], "expected": 2}])})
    broken = FunctionTask("gen/b", 'def inc(x):\n    """x + 1"""\n', "inc", extra={"cases": [{"expected": 2}]})
    ok, bad = grade_function_batch([as_text, broken], ["    return x + 1\n"] * 2, backend="local")
    assert ok.status == PASS
    assert bad.status == ERROR and bad.infra_error and "bad task" in bad.detail


def test_dead_sandbox_is_infra_error_for_every_sample():
    from patchloop.sandbox import open_sandbox

    sb = open_sandbox("local", task_id="dead")
    sb.close()
    results = grade_function_batch(HELPER, ["    return twice(x) + 1\n"] * 3, sandbox=sb)
    assert [r.status for r in results] == [ERROR] * 3 and all(r.infra_error for r in results)


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5) | st.binary(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.tuples(kids, kids) | st.dictionaries(st.text(max_size=3), kids, max_size=3)
    | st.frozensets(st.integers(), max_size=3),
    max_leaves=10)


@given(plain)
def test_codec_round_trips_plain_data(value):
    assert decode(encode(value)) == value
    assert type(decode(encode(value))) is type(value)


def test_codec_refuses_subclasses_and_objects():
    class LyingInt(int):
        def __eq__(self, other):
            return True

    for bad in (LyingInt(3), object(), [1, LyingInt(2)], {"k": lambda: 1}, type("S", (str,), {})("x")):
        with pytest.raises(CodecError):
            encode(bad)
    with pytest.raises(CodecError):
        decode({"__evil": 1})
    assert math.isnan(decode(encode(float("nan"))))


def test_values_equal_is_strict_where_it_matters():
    assert values_equal((1, 2), [1, 2]) and values_equal(0.1 + 0.2, 0.3)
    assert not values_equal(1, True) and not values_equal(True, 1) and not values_equal("1", 1)
    assert not values_equal({"a": 1}, {"a": 1, "b": 2}) and not values_equal([1], [1, 2])


def test_large_reports_are_split_not_blamed_on_a_sample():
    """Eight samples whose return values overflow the sandbox's output cap together: the
    grader splits the batch instead of failing anyone; an oversized value fails alone."""
    big = "ab" * 7000
    task = FunctionTask("gen/big", 'def rep(n):\n    """..."""\n', "rep",
                        extra={"cases": [{"args": [7000 + i], "expected": big + "ab" * i} for i in range(5)]})
    comps = ["    return 'ab' * n\n"] * 8 + ["    return 'x' * 20000\n"]
    results = grade_function_batch(task, comps, backend="local", timeout_s=5.0)
    assert [r.status for r in results] == [PASS] * 8 + [FAIL]
    assert "larger than" in results[-1].detail


def test_one_server_run_grades_a_whole_batch():
    from patchloop.sandbox import open_sandbox

    with open_sandbox("local", task_id="count-runs") as sb:
        runs = []
        real_run = sb.run
        sb.run = lambda cmd, **kw: runs.append(cmd) or real_run(cmd, **kw)
        results = grade_function_batch(HELPER, ["    return twice(x) + 1\n"] * 20, sandbox=sb)
    assert [r.status for r in results] == [PASS] * 20
    assert len(runs) == 1 and "func_server.py" in runs[0]


def test_function_grader_keeps_its_sandbox_pickles_and_recovers():
    import pickle

    from patchloop.evals.func.grade import FunctionGrader

    grader = FunctionGrader("local", timeout_s=3.0)
    try:
        assert grader(HELPER, ["    return twice(x) + 1\n"])[0].passed
        first = grader.sandbox
        assert grader(HELPER, ["    return x\n"])[0].status == FAIL and grader.sandbox is first
        copy = pickle.loads(pickle.dumps(grader))
        assert copy.sandbox is None and copy(HELPER, ["    return twice(x) + 1\n"])[0].passed
        copy.close()
        first.close()  # the sandbox dies under the grader
        broken = grader(HELPER, ["    return twice(x) + 1\n"])
        assert broken[0].infra_error and grader.sandbox is None
        assert grader(HELPER, ["    return twice(x) + 1\n"])[0].passed and grader.sandbox is not first
    finally:
        grader.close()


def test_threads_sharing_a_grader_take_turns_on_one_sandbox(monkeypatch):
    """datagen's workers share one grader: two first calls at once must not open two sandboxes
    (one would leak), nor may one thread's failed batch close the sandbox under another."""
    import threading

    import patchloop.evals.func.grade as func
    import patchloop.sandbox

    opened, both_inside = [], threading.Barrier(2, timeout=1.0)

    class Box:
        def close(self):
            pass

    def open_sandbox(**kwargs):
        opened.append(threading.current_thread().name)
        try:
            both_inside.wait()  # passes only if the other thread got in too
        except threading.BrokenBarrierError:
            pass
        return Box()
    monkeypatch.setattr(patchloop.sandbox, "open_sandbox", open_sandbox)
    monkeypatch.setattr(func, "grade_function_batch", lambda tasks, comps, **kw: [func.FuncResult("t", PASS)])
    grader = func.FunctionGrader("local")
    threads = [threading.Thread(target=grader, args=(HELPER, ["    return 1\n"])) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(opened) == 1


def test_a_sample_that_fills_tmp_does_not_starve_the_rest():
    """Each filler leaves ~120 MB in /tmp (the local sandbox's /tmp is a 256 MB tmpfs);
    without cleanup between samples the later uploads and honest samples would fail."""
    filler = ("    import os\n    for i in range(8):\n"
              "        with open(f'/tmp/fill-{os.getpid()}-{i}', 'wb') as fh:\n"
              "            fh.write(b'x' * (15 * 1024 * 1024))\n    return 0\n")
    comps = [filler, "    return twice(x) + 1\n"] * 3
    results = grade_function_batch(HELPER, comps, backend="local", chunk=2, timeout_s=10.0)
    assert [r.status for r in results] == [FAIL, PASS] * 3, results


@pytest.mark.parametrize("backend", ["local", "docker"])
def test_cleanup_after_a_sample_never_follows_its_symlinks(backend, request):
    """A sample leaves /tmp/d/link -> a directory outside /tmp (here the sandbox's workspace).
    Removing what it left must not chmod that directory through the link (as root on the local
    backend the target could be any host directory)."""
    if backend == "docker":
        request.getfixturevalue("docker_client")
    from patchloop.sandbox import open_sandbox

    with open_sandbox(backend, task_id="func-symlink") as sb:
        workspace = sb.run("pwd").stdout.strip()
        before = sb.run(f"stat -c %a {workspace}").stdout.strip()
        planter = ("    import os\n    os.makedirs('/tmp/d/inner', exist_ok=True)\n"
                   f"    os.symlink({workspace!r}, '/tmp/d/link')\n    os.symlink({workspace!r}, '/tmp/top-link')\n"
                   "    return 0\n")
        results = grade_function_batch(HELPER, [planter, "    return twice(x) + 1\n"], sandbox=sb)
        assert [r.status for r in results] == [FAIL, PASS], results
        assert sb.run(f"stat -c %a {workspace}").stdout.strip() == before == "755"
        assert sb.run("ls /tmp/d /tmp/top-link 2>&1; true").stdout.count("No such file") == 2


def test_text_that_cannot_be_source_fails_alone_and_the_batch_goes_on():
    """A lone surrogate cannot even be written as UTF-8 and a NUL byte cannot be compiled:
    such a completion is a FAIL of its own, not an exception that loses the whole batch."""
    comps = ["    return twice(x) + 1  # \ud800\n", "def f(x):\n    return twice(x) + 1  # \udcff\n", "\x00",
             "    return twice(x) + 1\n"]
    results = grade_function_batch(HELPER, comps, backend="local")
    assert [r.status for r in results] == [FAIL, FAIL, FAIL, PASS], results
    assert not any(r.infra_error for r in results)
    assert "UnicodeEncodeError" in results[0].detail and "null bytes" in results[2].detail
