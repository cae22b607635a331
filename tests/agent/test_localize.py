"""The code an issue names goes into the opening message: found, nested spans once, within
its budget, dropped before the issue when the window is small."""

from langchain_core.messages import HumanMessage

from patchloop.agent.context import counter
from patchloop.agent.tools import SandboxTools
from patchloop.agent.window import opening_messages
from patchloop.evals.localize import focus_block, issue_names
from tests.agent.conftest import agent_config

CODE = '''\
class Ledger:
    """Many lines of class body."""

    def total(self):
        return sum(self.lines)

    def add(self, line):
        self.lines.append(line)


def split_evenly(total, n):
    base, extra = divmod(total, n)
    return [base + 1] * extra + [base] * (n - extra)
'''
TESTS = "def total(values):\n    return sum(values)\n\n\ndef test_split_evenly():\n    assert split_evenly(7, 2) == [4, 3]\n"
FILES = {"src/ledger.py": CODE, "checks/test_ledger.py": TESTS}


def test_names_written_as_code_outweigh_plain_words():
    names = issue_names("`Ledger.total` is wrong when split_evenly(-7, 2) runs; the total is off")
    assert names["Ledger"] == names["total"] == names["split_evenly"] == 3
    assert names["runs"] == 1


def test_the_named_function_is_shown_whole_with_view_line_numbers():
    block = focus_block(FILES, "split_evenly() orders refund shares backwards", 800)
    assert block.startswith("src/ledger.py, lines 11-13:")
    assert "    13\t    return [base + 1] * extra" in block
    assert "checks/test_ledger.py" not in block  # nothing there has that name


def test_code_under_test_comes_before_a_test_helper_of_the_same_name():
    block = focus_block(FILES, "total() is wrong", 800)
    assert block.index("src/ledger.py, lines 4-5:") < block.index("checks/test_ledger.py, lines 1-2:")


def test_a_method_inside_a_class_shown_is_not_shown_twice():
    block = focus_block(FILES, "`total()` of a `Ledger` is wrong", 800)
    assert block.count("def total(self)") == 1
    assert block.startswith("src/ledger.py, lines 1-8:")  # the class replaced its method


def test_the_budget_holds_and_a_first_large_definition_is_cut_with_a_pointer():
    assert len(focus_block(FILES, "`Ledger` and split_evenly()", 40)) <= 40 * 3 + 80
    cut = focus_block(FILES, "`Ledger` is wrong", 20)
    assert "[cut to fit; view src/ledger.py start=1 for the rest]" in cut
    assert focus_block(FILES, "`Ledger` is wrong", 0) == ""
    assert focus_block(FILES, "nothing here is defined", 800) == ""


def test_the_opening_message_carries_the_named_code(textkit_task, textkit_sandbox):
    def opening(**kw) -> str:
        cfg = agent_config(context_tokens=32_000, **kw)
        msgs = opening_messages(textkit_task, SandboxTools(textkit_sandbox, cfg, textkit_task.problem_statement),
                                cfg, counter(), 0)
        return next(m.content for m in msgs if isinstance(m, HumanMessage))

    with_focus = opening()
    assert "Code the issue names" in with_focus and "\tdef truncate(" in with_focus
    assert "textkit/trunc.py, lines " in with_focus
    without = opening(focus_tokens=0)
    assert "Code the issue names" not in without and "\tdef truncate(" not in without


def test_a_small_window_drops_the_named_code_before_cutting_the_issue(textkit_task, textkit_sandbox):
    def size(cfg) -> int:
        tools = SandboxTools(textkit_sandbox, cfg, textkit_task.problem_statement)
        return sum(counter()(m) for m in opening_messages(textkit_task, tools, cfg, counter(), 0))

    bare = size(agent_config(context_tokens=10**6, focus_tokens=0, repo_map_tokens=0))
    assert size(agent_config(context_tokens=10**6, repo_map_tokens=0)) > bare + 50  # the named code is sizeable
    small = agent_config(context_tokens=int((bare + 10) / 0.6))  # room for the issue alone
    text = opening_messages(textkit_task, SandboxTools(textkit_sandbox, small, textkit_task.problem_statement),
                            small, counter(), 0)[1].content
    assert "\tdef truncate(" not in text and "shortened to fit" not in text
    assert textkit_task.problem_statement.strip() in text


def test_the_opening_parses_each_file_once(textkit_task, textkit_sandbox, monkeypatch):
    from patchloop.agent import repomap as rm

    parsed: list[str] = []
    real = rm.file_tags
    monkeypatch.setattr(rm, "file_tags", lambda path, source: parsed.append(path) or real(path, source))
    cfg = agent_config(context_tokens=1200)  # small: the outline is refitted several times
    tools = SandboxTools(textkit_sandbox, cfg, textkit_task.problem_statement)
    opening_messages(textkit_task, tools, cfg, counter(), 0)
    assert parsed and len(parsed) == len(set(parsed))


DESCRIPTORS = {
    "pkg/funcs.py": "class Bound:\n    def __get__(self, obj, objtype):\n        return MethodType(self, obj)\n",
    "pkg/cache.py": "class CachedMethod:\n    def __get__(self, obj, objtype=None):\n        if obj is not None:\n"
                    "            return self\n        return 1\n\n\nclass cachedproperty:\n"
                    "    def __get__(self, obj, objtype=None):\n        return obj\n",
    "tests/test_cache.py": "def fails(func):\n    return func\n\n\ndef test_get():\n    assert True\n",
}


def test_a_qualified_name_picks_the_definition_in_that_class_or_module():
    """Seen on a boltons task: `CachedMethod.__get__` showed every __get__ of the repository,
    another class's first, and the 1.5B model edited that one."""
    issue = "`CachedMethod.__get__` in `pkg.cache` does not behave as documented; 1 test fails"
    block = focus_block(DESCRIPTORS, issue, 800)
    assert block.startswith("pkg/cache.py, lines 2-5:") and "MethodType" not in block
    assert "cachedproperty" not in block and "def fails" not in block  # other __get__s; a plain word in tests
    by_module = focus_block(DESCRIPTORS, "`pkg.funcs.__get__` is wrong", 800)
    assert by_module.startswith("pkg/funcs.py, lines 2-3:") and "CachedMethod" not in by_module
    # written bare as well, every definition of the name stays, the qualified one first
    both = focus_block(DESCRIPTORS, "`CachedMethod.__get__` and every `__get__` are wrong", 800)
    assert both.startswith("pkg/cache.py, lines 2-5:") and "MethodType" in both
    # a qualifier that names nothing here (an instance variable) leaves every definition in play
    assert "MethodType" in focus_block(DESCRIPTORS, "`obj.__get__` fails", 800)


def test_names_in_a_traceback_rank_below_the_name_the_issue_writes_as_code():
    """The failure output names whatever the failure passed through (`_MovedItems` in a six
    task whose bug was in `remove_move`); the function the issue names in its text comes first."""
    files = {"six.py": "class _MovedItems:\n    pass\n\n\ndef remove_move(name):\n    try:\n"
                       "        delattr(_MovedItems, name)\n    except AttributeError:\n        raise\n"}
    issue = ("`remove_move` in `six` does not behave as documented\n\n```\nAttributeError: type object "
             "'_MovedItems' has no attribute 'spam'\n```\n")
    assert issue_names(issue)["_MovedItems"] == 2 and issue_names(issue)["remove_move"] == 3
    assert focus_block(files, issue, 800).startswith("six.py, lines 5-9:")
