"""Teacher-written bugs (``datagen repos --teacher-bugs``): the reply is untrusted and checked,
the function is replaced in place (methods keep their indentation), attempts resume.

A scripted chat model stands in for the teacher in the plumbing tests; the real 0.5B model
writes bugs in the ``realmodel`` test."""

from __future__ import annotations

import json

import libcst as cst
import pytest

from patchloop.datagen.repos import teacher_bugs as tb
from patchloop.datagen.repos.candidates import covered_targets
from patchloop.datagen.repos.source import prepare_source
from patchloop.evals.repos import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples" / "repos"
_STATS = cst.parse_module((EXAMPLES / "calckit" / "calckit" / "stats.py").read_text())
MEAN = _STATS.code_for_node(next(f for f in _STATS.body if isinstance(f, cst.FunctionDef)
                                 and f.name.value == "mean").with_changes(leading_lines=[]))


def _fence(code: str, lead: str = "Here it is:\n") -> str:
    return f"{lead}```python\n{code}```\n"


class Scripted:
    """A chat model whose reply is a function of the prompt text (``invoke`` as LangChain's)."""

    def __init__(self, answer):
        self.answer, self.prompts = answer, []

    def invoke(self, messages):
        from langchain_core.messages import AIMessage

        self.prompts.append(messages[-1].content)
        return AIMessage(self.answer(messages[-1].content))


def _original() -> cst.FunctionDef:
    return cst.parse_module(MEAN).body[0]


@pytest.mark.parametrize("reply,reason", [
    ("I changed the loop.", "no python code block"),
    (_fence("def mean(values:\n    return 1\n"), "reply does not parse"),
    (_fence(MEAN.replace("def mean", "def average")), "no function named mean"),
    (_fence(MEAN.replace("mean(values)", "mean(values, start=0)")), "parameters changed"),
    (_fence(MEAN.replace("    total = 0\n", "    total = 0  # start from nothing\n")), "no change to the code"),
    (_fence(MEAN.replace("total += v", "total -= v  # the bug: subtracts")), "points at the change"),
    (_fence(MEAN.replace('"""Arithmetic mean;', '"""Wrong on purpose; arithmetic mean;').replace("+=", "-=")),
     "points at the change"),
])
def test_unusable_replies_say_why(reply, reason):
    new, why = tb.parse_reply(reply, _original())
    assert new is None and reason in why


def test_a_good_reply_keeps_the_original_name_and_decorators():
    new, why = tb.parse_reply(_fence(MEAN.replace("total += v", "total += v * v")), _original())
    assert why == "" and new.name.value == "mean"
    assert "total += v * v" in cst.Module(body=[new]).code


def test_rewrite_shows_signature_and_docstring_only_and_modify_the_whole_function():
    rewrite = tb.prompt("calckit.stats", "mean", tb.shown(_original(), "rewrite"), "rewrite")
    assert "def mean(values):" in rewrite and "Arithmetic mean" in rewrite and "    ..." in rewrite
    assert "total += v" not in rewrite and "Implement this function" in rewrite
    modify = tb.prompt("calckit.stats", "mean", tb.shown(_original(), "modify"), "modify")
    assert "total += v" in modify and "Introduce a bug" in modify


@pytest.fixture
def intervals(tmp_path):
    src = prepare_source(tmp_path, repo=str(EXAMPLES / "intervals"))
    covered = {str(p.relative_to(src.path)): list(range(1, 400)) for p in src.path.rglob("*.py")}
    return src, covered


def test_a_method_is_replaced_inside_its_class(intervals, tmp_path):
    src, covered = intervals

    def answer(prompt):  # the teacher sees the method unindented and answers the same way
        if "`Interval.overlaps`" in prompt:
            assert "\ndef overlaps(self" in prompt
            return _fence('def overlaps(self, other: "Interval") -> bool:\n'
                          "    return self.start < other.end and other.start <= self.end\n")
        return "no"

    cands = tb.teacher_candidates(src.path, "intervals", covered, Scripted(answer), tmp_path / "w", limit=50)
    (cand,) = cands
    assert cand.mutation == "lm_rewrite" and cand.target == "Interval.overlaps" and cand.path == "intervals/core.py"
    assert "-        return self.start <= other.end" in cand.diff and "+        return self.start < other.end" in cand.diff
    changed = [ln for ln in cand.diff.splitlines()[4:] if ln[:1] in "+-"]
    assert len(changed) == 2  # one line out, one in: nothing else of the file moved


def test_attempts_are_logged_and_not_asked_again(intervals, tmp_path):
    src, covered = intervals
    functions = [t.qualname for _, _, _, t in covered_targets(src.path, covered)
                 if isinstance(t.node, cst.FunctionDef)]
    first = Scripted(lambda p: "no code here")
    assert tb.teacher_candidates(src.path, "intervals", covered, first, tmp_path / "w", limit=3) == []
    rows = [json.loads(x) for x in (tmp_path / "w" / tb.LOG).read_text().splitlines()]
    assert len(rows) == 3 == len(first.prompts) and all(r["reason"] == "no python code block" for r in rows)
    assert {r["target"] for r in rows} <= set(functions)
    again = Scripted(lambda p: "no code here")
    tb.teacher_candidates(src.path, "intervals", covered, again, tmp_path / "w", limit=3)
    assert again.prompts == []  # resumed: the same three functions, answered before
    tb.teacher_candidates(src.path, "intervals", covered, again, tmp_path / "w", limit=4)
    assert len(again.prompts) == 1  # only the new one


def test_a_teacher_that_fails_is_a_counted_attempt(intervals, tmp_path):
    src, covered = intervals

    def broken(prompt):
        raise ConnectionError("endpoint down")

    assert tb.teacher_candidates(src.path, "intervals", covered, Scripted(broken), tmp_path / "w", limit=1) == []
    (row,) = [json.loads(x) for x in (tmp_path / "w" / tb.LOG).read_text().splitlines()]
    assert row["reason"].startswith("teacher failed: ConnectionError: endpoint down")


@pytest.mark.realmodel
def test_the_real_model_writes_a_usable_bug(real_model_dir, tmp_path):
    """Qwen2.5-Coder-0.5B-Instruct as the teacher (rewrite, greedy) on the calckit example's
    functions: at least one reply passes every check and gives a diff of that function alone
    (whether it is a bug is validation's call, in Docker)."""
    from patchloop.llm import load_chat_model

    src = prepare_source(tmp_path, repo=str(EXAMPLES / "calckit"))
    covered = {str(p.relative_to(src.path)): list(range(1, 400)) for p in src.path.rglob("*.py")}
    model = load_chat_model(f"hf:{real_model_dir}", temperature=0.0, max_tokens=256)
    cands = tb.teacher_candidates(src.path, "calckit", covered, model, tmp_path / "w", limit=2)
    rows = [json.loads(x) for x in (tmp_path / "w" / tb.LOG).read_text().splitlines()]
    assert len(rows) == 2
    assert cands, [r["reason"] for r in rows]
    for c in cands:
        assert c.diff.startswith("diff --git") and c.path.startswith("calckit/") and c.mutation == "lm_rewrite"
        compile((src.path / c.path).read_text(), c.path, "exec")  # the work tree is left at the base


@pytest.mark.docker
def test_pipeline_validates_the_teachers_bugs(tmp_path, docker_client):
    """``process_repo`` with ``teacher_bugs``: the teacher's bug for ``mean`` is validated by the
    harness like a procedural one and kept with its mutation named; a rerun asks nothing."""
    from patchloop.datagen.repos.pipeline import ReposConfig, finish, process_repo
    from patchloop.evals.datasets import load_tasks
    from patchloop.types import write_jsonl

    out = tmp_path / "out"
    (out / "work" / "calckit").mkdir(parents=True)
    write_jsonl(out / "work" / "calckit" / "candidates.jsonl", [])  # no procedural bugs: the teacher's only
    teacher = Scripted(lambda p: _fence(MEAN.replace("total += v", "total += 2 * v")) if "`mean`" in p else "no")
    cfg = ReposConfig(timeout_s=60, teacher_bugs=20)
    with pytest.raises(ValueError, match="needs a teacher model"):
        process_repo(f"path:{EXAMPLES / 'calckit'}", out, cfg)
    res = process_repo(f"path:{EXAMPLES / 'calckit'}", out, cfg, teacher=teacher, on_event=lambda m: None)
    assert res["kept"] == 1 and res["tried"] == 1
    (task,) = load_tasks(out / "instances.jsonl")
    assert task.extra["mutation"] == "lm_rewrite" and task.extra["mutated_target"] == "mean"
    assert task.FAIL_TO_PASS and task.PASS_TO_PASS and "diff --git" not in task.problem_statement
    asked = len(teacher.prompts)
    assert process_repo(f"path:{EXAMPLES / 'calckit'}", out, cfg, teacher=teacher, on_event=lambda m: None)["tried"] == 0
    assert len(teacher.prompts) == asked  # resumed from teacher_bugs.jsonl
    assert finish(out, cfg)["per_mutation"]["lm_rewrite"] == {"tried": 1, "kept": 1}


def test_a_torn_last_attempt_does_not_swallow_the_next(intervals, tmp_path):
    src, covered = intervals
    log = tmp_path / "w" / tb.LOG
    log.parent.mkdir()
    log.write_text('{"repo": "intervals", "path": "intervals/core.py", "tar')  # killed mid-write
    tb.teacher_candidates(src.path, "intervals", covered, Scripted(lambda p: "no"), tmp_path / "w", limit=1)
    rows = [json.loads(x) for x in log.read_text().splitlines()[1:]]
    assert len(rows) == 1 and rows[0]["reason"] == "no python code block"
