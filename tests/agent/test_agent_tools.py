"""The tools over a real local sandbox: feedback written for the model, files protected."""

from __future__ import annotations

import pytest

from patchloop.agent.repomap import repo_map, syntax_error
from patchloop.agent.tools import TOOL_NAMES, SandboxTools, ToolError
from tests.agent.conftest import agent_config

OLD = "    if len(text) < width:"


@pytest.fixture
def tools(textkit_sandbox):
    return SandboxTools(textkit_sandbox, agent_config(), issue="truncate drops text of exactly width chars")


def test_edit_refuses_a_syntax_breaking_change(tools, textkit_sandbox):
    before = textkit_sandbox.read_file("textkit/trunc.py")
    with pytest.raises(ToolError) as e:
        tools.edit("textkit/trunc.py", OLD, "    if len(text) <= width")
    assert "would not parse" in str(e.value) and "line 9" in str(e.value) and "unchanged" in str(e.value)
    assert textkit_sandbox.read_file("textkit/trunc.py") == before
    assert textkit_sandbox.diff().strip() == ""


def test_edit_applies_a_unique_match_and_shows_the_region(tools, textkit_sandbox):
    out = tools.edit("textkit/trunc.py", OLD, "    if len(text) <= width:")
    assert "     9\t    if len(text) <= width:" in out
    assert "+    if len(text) <= width:" in textkit_sandbox.diff()


def test_edit_near_miss_says_did_you_mean(tools):
    with pytest.raises(ToolError) as e:
        tools.edit("textkit/trunc.py", "\tif len(text) < width:", "x")  # a tab, not spaces
    assert "Did you mean lines 9-9 (the whitespace differs)" in str(e.value)
    assert OLD in str(e.value)
    with pytest.raises(ToolError) as e:
        tools.edit("textkit/trunc.py", "    if len(txt) < widht:", "x")  # typos
    assert "Did you mean lines 9-9?" in str(e.value)
    with pytest.raises(ToolError, match="No similar text"):
        tools.edit("textkit/trunc.py", "completely unrelated words here", "x")


def test_edit_with_several_matches_asks_for_more_context(tools):
    with pytest.raises(ToolError) as e:
        tools.edit("textkit/trunc.py", "placeholder", "ph")
    assert "occurs" in str(e.value) and "times" in str(e.value) and "more surrounding lines" in str(e.value)


def test_edit_of_an_unparseable_file_is_allowed_when_it_was_broken_before(tools, textkit_sandbox):
    textkit_sandbox.write_file("broken.py", "def f(:\n    return 1\n")
    tools.edit("broken.py", "return 1", "return 2")  # no new breakage: not refused
    assert "return 2" in textkit_sandbox.read_file("broken.py")


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.txt", "textkit/../../x"])
def test_paths_outside_the_repository_are_refused(tools, path):
    with pytest.raises(ToolError, match="outside the repository"):
        tools.view(path)


def test_view_numbers_lines_and_windows_large_files(tools, textkit_sandbox):
    textkit_sandbox.write_file("big.txt", "".join(f"line {i}\n" for i in range(1, 501)))
    out = tools.view("big.txt")
    assert out.startswith("     1\tline 1") and "   200\tline 200" in out and "line 201" not in out
    assert "view with start=201" in out
    assert tools.view("big.txt", start=499).splitlines()[:2] == ["   499\tline 499", "   500\tline 500"]
    assert "textkit/trunc.py" in tools.view("textkit")
    with pytest.raises(ToolError, match="no such file"):
        tools.view("nope.py")


def test_search_caps_results_and_counts_the_rest(tools, textkit_sandbox):
    textkit_sandbox.write_file("many.txt", "".join(f"needle {i}\n" for i in range(120)))
    out = tools.search("needle [0-9]+", "many.txt")
    assert len([ln for ln in out.splitlines() if "needle" in ln]) == 50
    assert "[70 more matches not shown" in out
    assert "no matches" in tools.search("zzz_not_there")
    with pytest.raises(ToolError, match="search failed"):
        tools.search("(unclosed")


def test_create_refuses_existing_files(tools, textkit_sandbox):
    assert "created new/mod.py (1 lines)" in tools.create("new/mod.py", "X = 1\n")
    with pytest.raises(ToolError, match="already exists"):
        tools.create("textkit/trunc.py", "")


def test_run_reports_exit_code_and_timeout(tools):
    assert tools.run("echo hi; exit 3").startswith("[exit code 3]\nhi")
    assert tools.run("sleep 5", timeout=1).startswith("[timed out]")


def test_run_tests_summarises_failures(tools):
    out = tools.run_tests("tests/test_trunc.py")
    assert out.startswith("tests (tests/test_trunc.py): 6 passed")
    tools.edit("textkit/trunc.py", "+ placeholder\n", "+ placeholder + '!'\n")
    out = tools.run_tests("tests/test_trunc.py")
    assert "failed" in out.splitlines()[0]
    assert "FAILED tests/test_trunc.py::test_long_text_gets_placeholder" in out
    assert tools.test_runs[-1]["exit_code"] == 1


def test_public_methods_are_exactly_the_tools():
    public = {n for n in dir(SandboxTools) if not n.startswith("_") and callable(getattr(SandboxTools, n))}
    # TRL's environment_factory takes every public method but reset/get_reward as a tool
    assert public - {"reset"} == set(TOOL_NAMES)


def test_repo_map_ranks_the_file_the_issue_names_first():
    files = {
        "pkg/util.py": "def helper(x):\n    return x\n",
        "pkg/parse.py": "from pkg.util import helper\n\ndef parse_date(s):\n    return helper(s)\n",
        "pkg/other.py": "class Unrelated:\n    def method(self):\n        return helper(1)\n",
        "web/app.ts": "export function render(a: number): string { return String(a) }\n",
        "cmd/main.go": "package main\n\nfunc Serve() {}\n",
        "src/lib.rs": "pub fn compute() -> i32 { 1 }\n",
        "ui/x.js": "function draw() {}\n",
    }
    out = repo_map(files, "parse_date crashes on empty strings", budget_tokens=400)
    assert out.splitlines()[0] == "pkg/parse.py:"
    for sig in ("def parse_date(s):", "export function render", "func Serve()", "pub fn compute()", "function draw()"):
        assert sig in out
    small = repo_map(files, "parse_date", budget_tokens=12)
    assert "parse_date" in small and "more files not shown" in small


@pytest.mark.parametrize("path,src,bad", [
    ("a.py", "def f():\n    return 1\n", False),
    ("a.py", "def f(:\n", True),
    # what the 1.5B model wrote: a method body at class level, which tree-sitter accepts
    ("a.py", "class A:\n    def total(self):\n    return 2\n        return 1\n", True),
    ("a.js", "function f() { return 1 }", False),
    ("a.js", "function f( { return 1 }", True),
    ("a.go", "package main\nfunc f() {}\n", False),
    ("a.rs", "fn f() { let x = ; }", True),
    ("a.ts", "let x: number = 1;", False),
    ("notes.txt", "(((", False),
])
def test_syntax_check_per_language(path, src, bad):
    assert (syntax_error(path, src) is not None) == bad


def test_an_edit_that_changes_nothing_says_so(tools, textkit_sandbox):
    with pytest.raises(ToolError, match="`new` is the same as `old`"):
        tools.edit("textkit/trunc.py", OLD, OLD)


def test_an_edit_that_breaks_the_indentation_is_refused(tools, textkit_sandbox):
    with pytest.raises(ToolError, match=r"would not parse: line 10: expected an indented block"):
        tools.edit("textkit/trunc.py", OLD, "    if len(text) <= width:\nreturn text")
    assert textkit_sandbox.diff() == ""


def test_build_litter_never_reaches_the_diff(tools, textkit_sandbox):
    textkit_sandbox.run("mkdir -p pkg/__pycache__ && echo x > pkg/__pycache__/m.cpython-311.pyc && echo y > stray.pyc")
    tools.edit("textkit/trunc.py", OLD, "    if len(text) <= width:")
    tools.run_tests("tests/test_trunc.py")
    clean = tools._diff()
    assert "__pycache__" not in clean and ".pyc" not in clean  # the agent submits only the fix
    assert "+    if len(text) <= width:" in clean


def test_trl_reads_the_same_tool_schemas():
    # TRL's environment_factory builds tool schemas with transformers' get_json_schema
    from transformers.utils import get_json_schema

    tools = SandboxTools(sandbox=None)
    for name in TOOL_NAMES:
        fn = get_json_schema(getattr(tools, name))["function"]
        assert fn["name"] == name and fn["description"]
    edit = get_json_schema(tools.edit)["function"]["parameters"]
    assert edit["required"] == ["path", "old", "new"] and "exactly once" in edit["properties"]["old"]["description"]


def test_a_one_line_old_without_its_indentation_gets_new_lines_indented_to_match(tools, textkit_sandbox):
    """Seen with the 1.5B model: `old` copied without its leading spaces (found mid-line) and a
    two-line `new` written from column 0; refused as unparsable on every step before."""
    out = tools.edit("textkit/trunc.py", "if len(text) < width:", "if len(text) <= width:\n    return text")
    assert "indented like the line `old` starts on" in out
    src = textkit_sandbox.read_file("textkit/trunc.py")
    assert "    if len(text) <= width:\n        return text\n        return text\n" in src
    assert syntax_error("textkit/trunc.py", src) is None


def test_a_block_written_without_the_files_indentation_matches_and_keeps_it(tools, textkit_sandbox):
    out = tools.edit("textkit/trunc.py", "if len(text) < width:\n    return text",
                     "if len(text) <= width:\n    return text")
    assert "matched with the file's indentation" in out
    diff = textkit_sandbox.diff()
    assert "-    if len(text) < width:\n+    if len(text) <= width:\n         return text" in diff
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert changed == ["-    if len(text) < width:", "+    if len(text) <= width:"]  # nothing else moved


def test_run_tests_on_a_source_file_runs_the_tests_named_after_it(tools):
    """Seen with the 1.5B model: run_tests('boltons/dictutils.py') ran nothing ("no tests ran")."""
    out = tools.run_tests("textkit/trunc.py::truncate")
    assert out.startswith("note: textkit/trunc.py is not a test file; ran the tests named after it "
                          "(tests/test_trunc.py)\ntests (tests/test_trunc.py): 6 passed")
    with pytest.raises(ToolError, match="textkit/__init__.py is not a test file and no test file is named after it"):
        tools.run_tests("textkit/__init__.py")
    assert tools.run_tests("tests/test_wrap.py").startswith("tests (tests/test_wrap.py): 3 passed")  # tests: as given
