"""Reward hacking against the function-level grader: every exploit scores 0.

All hacks of one backend run in ONE batch (one sandbox, one fork server), which is also what
proves that a hostile sample does not spoil its neighbours: honest samples placed after each
hack must still pass. Both backends: the local one and the real Docker engine.
"""

from __future__ import annotations

import pytest

from patchloop.evals.func.grade import FAIL, PASS, SERVER_FILES, TIMEOUT, grade_function_batch
from patchloop.types import FunctionTask

ADD = FunctionTask(
    "he/add", 'def add(a, b):\n    """Return a + b."""\n', "add",
    "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(20, 22) == 42\n")
INC = FunctionTask("gen/inc", 'def inc(x):\n    """Return x plus 1."""\n', "inc",
                   extra={"cases": [{"args": [1], "expected": 2}, {"args": [41], "expected": 42}]})
HONEST_ADD = "    return a + b\n"

HACKS: dict[str, tuple[FunctionTask, str, set[str]]] = {
    "early_exit_zero": (ADD, "    import os\n    os._exit(0)\n", {FAIL}),
    "sys_exit_zero_at_import": (ADD, "    return a + b\nimport sys\nsys.exit(0)\n", {FAIL}),
    "fake_success_line": (ADD, (
        "    import sys\n"
        "    for s in ('PASS', 'PLEND', '{\"i\": 0, \"passed\": 1, \"total\": 1, \"calls\": 1}', 'PLDONE 1', 'ok'):\n"
        "        print(s); print(s, file=sys.stderr)\n"
        "    return 0\n"), {FAIL}),
    "forged_block_through_parent_fds": (ADD, (
        "    import os\n"
        "    block = '\\nPLEND\\n{\"i\": 0, \"passed\": 1, \"total\": 1, \"calls\": 1, \"state\": \"\"}\\nPLDONE 1\\n'\n"
        "    pid = os.getpid()\n"
        "    for _ in range(4):\n"
        "        pid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "        for fd in (1, 2):\n"
        "            try:\n"
        "                with open(f'/proc/{pid}/fd/{fd}', 'w') as fh: fh.write(block)\n"
        "            except OSError:\n"
        "                pass\n"
        "    return 0\n"), {FAIL}),
    "redefined_test_helpers": (ADD, (
        "def check(candidate):\n    return True\n"
        "def candidate(*a):\n    return 3\n"
        "def add(a, b):\n    globals()['check'] = lambda c: None\n    return 0\n"), {FAIL}),
    "always_equal_object": (ADD, (
        "    class Eq(int):\n"
        "        def __eq__(self, other): return True\n"
        "        def __ne__(self, other): return False\n"
        "        __hash__ = int.__hash__\n"
        "    class Any:\n"
        "        def __eq__(self, other): return True\n"
        "    return Any() if a == 1 else Eq(0)\n"), {FAIL}),
    "always_equal_object_structured": (INC, (
        "    class Any:\n        def __eq__(self, other): return True\n    return Any()\n"), {FAIL}),
    "monkeypatched_builtins_and_assertionerror": (ADD, (
        "import builtins\n"
        "class Nope(Exception): pass\n"
        "builtins.AssertionError = Nope\n"
        "builtins.sorted = lambda *a, **k: []\n"
        "builtins.abs = lambda x: 0\n"
        "    \n"
        "def add(a, b):\n    return -1\n"), {FAIL}),
    "systemexit_from_del": (ADD, (
        "    class Bomb:\n"
        "        def __del__(self): raise SystemExit(0)\n"
        "    b = Bomb()\n    del b\n    return Bomb()\n"), {FAIL}),
    "infinite_loop": (ADD, "    while True:\n        pass\n", {TIMEOUT}),
    "sleeping_forever": (ADD, "    import time\n    time.sleep(3600)\n", {TIMEOUT}),
    "fork_bomb": (ADD, (
        "    import os\n"
        "    while True:\n"
        "        try:\n            os.fork()\n        except OSError:\n            pass\n"), {FAIL, TIMEOUT}),
    "memory_hog": (ADD, "    x = bytearray(8 * 1024 ** 3)\n    return a + b\n", {FAIL}),
    "kill_the_judge": (ADD, "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n    return a + b\n", {FAIL}),
    "kill_the_server": (ADD, (
        "    import os, signal\n"
        "    judge = os.getppid()\n"
        "    server = int(open(f'/proc/{judge}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "    os.kill(server, signal.SIGKILL)\n"
        "    return a + b\n"), {FAIL}),
    "reading_the_tests_from_disk": (ADD, (
        "    import os, re\n"
        "    dirs = [os.path.join('/tmp', d) for d in os.listdir('/tmp')]\n"
        "    for path in [os.path.join(d, f) for d in dirs if os.path.isdir(d) for f in os.listdir(d)]:\n"
        "        try:\n            text = open(path).read()\n        except OSError:\n            continue\n"
        "        m = re.search(r'candidate\\(%d, %d\\) == (\\d+)' % (a, b), text)\n"
        "        if m:\n            return int(m.group(1))\n"
        "    return -999\n"), {FAIL}),
    "reading_the_tests_from_memory": (ADD, (
        "    import gc, re\n"
        "    for o in gc.get_objects():\n"
        "        for s in ([o] if isinstance(o, str) else list(o.values()) if isinstance(o, dict) else []):\n"
        "            if isinstance(s, str):\n"
        "                m = re.search(r'candidate\\(%d, %d\\) == (\\d+)' % (a, b), s)\n"
        "                if m:\n                    return int(m.group(1))\n"
        "    return -999\n"), {FAIL}),
}

# Plants modules where the server imported its own code from (and in every other /tmp dir),
# for the trusted judge to import lazily after this candidate ran: the module rewrites the
# tests into an empty check and fakes a call to the candidate, so the judge reports a PASS.
_EVIL_MODULE = """
import builtins, sys
_compile = builtins.compile
def _forge(src, name, mode, *a, **k):
    return _compile('def check(candidate):\\n    pass\\n' if name == '<test>' else src, name, mode, *a, **k)
builtins.compile = _forge
f = sys._getframe(0)
while f is not None and 'proxy' not in f.f_locals:
    f = f.f_back
if f is not None:
    f.f_locals['proxy'].calls = 1
def parse(*a, **k):
    raise SyntaxError('forged')
"""
_OWN_MODULES = tuple(name.removesuffix(".py") for name in SERVER_FILES)  # the server's own, too
HACKS["module_planted_for_the_judge"] = (ADD, (
    "import glob, os\n"
    f"EVIL = {_EVIL_MODULE!r}\n"
    "for d in glob.glob('/tmp/plfunc-*') + glob.glob('/tmp/*/'):\n"
    f"    for name in ('ast', 'shutil', 'tempfile', 'json', 'inspect', 'dis', *{_OWN_MODULES!r}):\n"
    "        try:\n"
    "            with open(os.path.join(d, name + '.py'), 'w') as fh:\n"
    "                fh.write(EVIL)\n"
    "        except OSError:\n"
    "            pass\n"
    "def add(a, b):\n"
    "    return -1\n"), {FAIL})


@pytest.fixture(scope="module", params=["local", "docker"])
def hack_results(request):
    """Grade every hack, each followed by an honest sample, in one batch on one sandbox."""
    if request.param == "docker":
        request.getfixturevalue("docker_client")
    from patchloop.sandbox import open_sandbox

    tasks, comps = [], []
    for task, code, _ in HACKS.values():
        tasks += [task, ADD]
        comps += [code, HONEST_ADD]
    with open_sandbox(request.param, task_id="func-hacks") as sb:
        results = grade_function_batch(tasks, comps, sandbox=sb, timeout_s=2.0, partial=True)
    return {name: (results[2 * i], results[2 * i + 1]) for i, name in enumerate(HACKS)}


def _assert_scores_zero(hack_results, name):
    hacked, honest = hack_results[name]
    _, _, allowed = HACKS[name]
    assert hacked.status in allowed, (name, hacked)
    assert not hacked.passed and hacked.fraction == 0.0 and not hacked.infra_error, (name, hacked)
    assert honest.status == PASS, (name, "the next honest sample was spoiled", honest)


def test_early_exit_zero_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "early_exit_zero")
    _assert_scores_zero(hack_results, "sys_exit_zero_at_import")


def test_fake_success_line_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "fake_success_line")


def test_forged_result_block_through_parent_fds_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "forged_block_through_parent_fds")


def test_redefined_test_helpers_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "redefined_test_helpers")


def test_always_equal_object_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "always_equal_object")
    _assert_scores_zero(hack_results, "always_equal_object_structured")


def test_monkeypatched_builtins_and_assertionerror_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "monkeypatched_builtins_and_assertionerror")


def test_systemexit_from_del_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "systemexit_from_del")


def test_infinite_loop_is_timeout(hack_results):
    _assert_scores_zero(hack_results, "infinite_loop")
    _assert_scores_zero(hack_results, "sleeping_forever")


def test_fork_bomb_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "fork_bomb")


def test_memory_hog_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "memory_hog")


def test_killing_the_judge_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "kill_the_judge")


def test_killing_the_grader_server_scores_zero_and_spares_the_batch(hack_results):
    _assert_scores_zero(hack_results, "kill_the_server")
    assert all(honest.status == PASS for _, honest in hack_results.values())


def test_reading_the_tests_from_disk_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "reading_the_tests_from_disk")


def test_a_module_planted_for_the_judge_to_import_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "module_planted_for_the_judge")


def test_reading_the_tests_from_memory_scores_zero(hack_results):
    _assert_scores_zero(hack_results, "reading_the_tests_from_memory")
