"""Issue text (template and a stand-in teacher), splits by repository, metadata, the CLI."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from typer.testing import CliRunner

from patchloop.cli import app
from patchloop.datagen.repos.issues import (
    IssueContext,
    TeacherWriter,
    TemplateWriter,
    failure_messages,
    leaks,
)
from patchloop.datagen.repos.pipeline import split_by_repo
from patchloop.datagen.repos.source import SourceError, parse_package_spec, read_metadata
from patchloop.types import Task

DIFF = """diff --git a/pkg/stats.py b/pkg/stats.py
--- a/pkg/stats.py
+++ b/pkg/stats.py
@@ -1,3 +1,3 @@
 def mean(values):
-    return sum(values) / len(values)
+    return sum(values) / (len(values) + 1)
"""


def _ctx():
    return IssueContext(module="pkg.stats", target="mean", diff=DIFF, n_pass=9,
                        failures={"tests/test_stats.py::test_mean_of_integers": "assert 2.0 == 2.5",
                                  "tests/test_stats.py::TestMean::test_mean_of_one[x]": "AssertionError: test_mean_o..."})


def test_template_reports_behaviour_not_fix_nor_tests():
    text, source = TemplateWriter().write(_ctx())
    assert source == "template"
    assert "assert 2.0 == 2.5" in text and "`mean`" in text and "2 tests" in text
    assert leaks(text, _ctx()) == ""
    assert "test_mean" not in text and "len(values)" not in text  # cut test name dropped too


def test_template_leaves_out_messages_cut_to_nothing_and_names_both_parts_of_a_combined_bug():
    """Seen on inflection's combined bugs with pytest at 80 columns: "Asserti..." in the issue."""
    ctx = _ctx()
    ctx.target = "pluralize+singularize"
    ctx.failures = {"tests/test_a.py::test_one": "AssertionError: asse...", "tests/test_a.py::test_two": "Asserti...",
                    "tests/test_a.py::test_three": "AssertionError: assert 'octopi' == 'octopus'"}
    text, _ = TemplateWriter().write(ctx)
    assert "Asserti..." not in text and "asse..." not in text
    assert "AssertionError: assert 'octopi' == 'octopus'" in text
    assert text.startswith("`pluralize` and `singularize` in `pkg.stats`") and "+" not in text.splitlines()[0]
    assert "Expected: `pluralize` and `singularize` behave as their documentation" in text


def test_leaks_catches_diff_test_names_and_changed_lines():
    ctx = _ctx()
    assert leaks(DIFF, ctx) == "contains a diff"
    assert leaks("see test_mean_of_integers", ctx) == "names the test test_mean_of_integers"
    assert leaks("TestMean breaks", ctx) == "names the test TestMean"
    assert leaks("it does return sum(values) / (len(values) + 1) now", ctx) == "quotes a changed line"


def test_teacher_text_is_used_when_it_follows_the_rules():
    model = FakeListChatModel(responses=["mean() is off\n\n`mean([1, 2, 3, 4])` gives 2.0, expected 2.5."])
    text, source = TeacherWriter(model).write(_ctx())
    assert source == "teacher" and text.startswith("mean() is off")


def test_teacher_prompt_shows_diff_failures_and_tests():
    ctx = _ctx()
    ctx.test_sources = {"t": "def test_mean_of_integers():\n    assert mean([1, 2, 3, 4]) == 2.5"}
    prompt = TeacherWriter(FakeListChatModel(responses=["x"])).prompt(ctx)
    assert DIFF in prompt and "assert 2.0 == 2.5" in prompt and "def test_mean_of_integers" in prompt


def test_teacher_that_names_a_test_falls_back_to_the_template():
    model = FakeListChatModel(responses=["test_mean_of_integers fails because of len(values) + 1"])
    text, source = TeacherWriter(model).write(_ctx())
    assert source == "template (teacher rejected: names the test test_mean_of_integers)"
    assert text == TemplateWriter().write(_ctx())[0]


def test_failure_messages_from_short_summary():
    log = "FAILED tests/a.py::test_x - AssertionError: assert 1 == 2\nERROR tests/a.py::test_y\nPASSED tests/a.py::z\n"
    assert failure_messages(log) == {"tests/a.py::test_x": "AssertionError: assert 1 == 2", "tests/a.py::test_y": ""}


def _tasks(spec):
    return [Task(f"{repo}-{i}", repo=repo) for repo, n in spec.items() for i in range(n)]


def test_splits_never_share_a_repository():
    tasks = _tasks({"a": 30, "b": 20, "c": 10, "d": 40, "e": 5})
    for seed in range(5):
        s = split_by_repo(tasks, 0.3, seed)
        train, ev = {t.repo for t in s["train"]}, {t.repo for t in s["eval"]}
        assert train and ev and not train & ev
        assert len(s["train"]) + len(s["eval"]) == len(tasks)
        assert 0 < len(s["eval"]) <= 0.3 * len(tasks)
    assert split_by_repo(_tasks({"a": 3}), 0.3)["eval"] == []


def test_package_spec_must_be_pinned():
    assert parse_package_spec("more-itertools==11.2.1") == ("more-itertools", "11.2.1")
    for bad in ("toolz", "toolz>=1", "==1.0"):
        try:
            parse_package_spec(bad)
        except SourceError as e:
            assert "NAME==VERSION" in str(e)
        else:
            raise AssertionError(bad)


def test_licence_and_requirements_from_pkg_info(tmp_path):
    (tmp_path / "PKG-INFO").write_text(
        "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nLicense-Expression: BSD-3-Clause\n"
        "Requires-Dist: text-unidecode>=1.3\nRequires-Dist: pytest-cov; extra == 'tests'\n"
        "Requires-Dist: oldthing; python_version < '3.8'\n")
    meta = read_metadata(tmp_path)
    assert meta["license"] == "BSD-3-Clause" and meta["requires"] == ["text-unidecode>=1.3"]


def test_cli_needs_a_source(tmp_path):
    res = CliRunner().invoke(app, ["datagen", "repos", "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "--package" in res.output
    assert "--max-candidates" in CliRunner().invoke(app, ["datagen", "repos", "--help"]).output


def test_suite_skip_reasons():
    from patchloop.datagen.repos.suite import SuiteRun

    ok = {f"t.py::t{i}": "PASSED" for i in range(9)} | {"t.py::bad": "FAILED"}
    assert SuiteRun("r", statuses=ok, duration_s=5).skip_reason(0.8, 120) == ""
    assert "hangs" in SuiteRun("r", timed_out=True, duration_s=900).skip_reason()
    assert "too slow: 525s" in SuiteRun("r", statuses=ok, duration_s=525).skip_reason(0.8, 120)
    assert "only 9/10 pass" in SuiteRun("r", statuses=ok).skip_reason(0.95)
    assert "no test collected" in SuiteRun("r", exit_code=5).skip_reason()


def test_collection_cause_names_the_module_and_the_missing_import(tmp_path):
    """Real pytest output for a suite whose test module imports a package the image lacks
    (humanize 4.17.0 needs freezegun, idna 3.20 hypothesis): the skip says which and why."""
    import subprocess
    import sys

    from patchloop.datagen.repos.suite import collection_cause

    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_time.py").write_text("import not_installed_anywhere\n\ndef test_x():\n    pass\n")
    (tmp_path / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert collection_cause(out.stdout + out.stderr) == \
        "tests/test_time.py: ModuleNotFoundError: No module named 'not_installed_anywhere'"
    usage = "ERROR: usage: __main__.py [options] [file_or_dir] [file_or_dir] [...]\n__main__.py: error: bad --cov"
    assert collection_cause(usage).startswith("ERROR: usage")
    assert collection_cause("") == "no output"
