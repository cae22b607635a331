"""``eval repair``'s pipeline: replies sampled through a generator with the grader's stop rule,
graded by the repair grader, summarised per task; resumed without sampling or grading twice;
other settings refused; an infrastructure error graded again. A scripted generator stands in
for the model (control flow only); the grading is real (local sandbox, real git)."""

from __future__ import annotations

import json

import pytest

from patchloop.datagen.repos.repair import repair_row
from patchloop.evals.extract import repair_settled
from patchloop.evals.repair_run import evaluate_repair, load_rows
from patchloop.llm.generation import GenResult
from tests.evals.swe_helpers import builtin
from tests.evals.test_repair_grader import function_source, reply


class Scripted:
    """Answers each prompt with the reply ``replies`` holds for it (keyed by the prompt's JSON)."""

    name, info = "scripted", {"engine": "scripted", "dtype": "none"}

    def __init__(self, replies: dict[str, str]):
        self.replies, self.requests, self.prompts = replies, [], []

    def render(self, prompt) -> list[int]:
        key = json.dumps(prompt)
        if key not in self.prompts:
            self.prompts.append(key)
        return [self.prompts.index(key)]

    def generate(self, reqs, on_result=None):
        self.requests += reqs
        out = []
        for i, r in enumerate(reqs):
            res = GenResult(self.replies[self.prompts[r.prompt_ids[0]]], [1, 2], [-0.1, -0.1], "stop", 1)
            if on_result:
                on_result(i, res)
            out.append(res)
        return out


@pytest.fixture(scope="module")
def rows_and_replies():
    fixed, broken = builtin("textkit-1"), builtin("intervals-2")
    rows = [repair_row(fixed, backend="local"), repair_row(broken, backend="local")]
    replies = {json.dumps(rows[0]["prompt"]): reply(function_source(fixed, "textkit/trunc.py", "truncate", gold=True)),
               json.dumps(rows[1]["prompt"]): reply(function_source(broken, "intervals/core.py", "gaps", gold=False))}
    return rows, replies


def run(rows, replies, out, **kw):
    gen = Scripted(replies)
    summary = evaluate_repair("scripted", rows, out, generator=gen, backend="local", workers=2, progress=False,
                              **{"n_samples": 2, "temperature": 0.8, **kw})
    return summary, gen


def test_replies_are_graded_per_task_and_a_rerun_neither_samples_nor_grades_again(rows_and_replies, tmp_path):
    rows, replies = rows_and_replies
    summary, gen = run(rows, replies, tmp_path)
    assert len(gen.requests) == 4 and all(r.settled is repair_settled and r.seed is not None for r in gen.requests)
    assert summary["per_task"] == {"intervals-2": [2, 0], "textkit-1": [2, 2]}
    assert summary["pass@1"] == 0.5 and summary["pass@2"] == 0.5
    assert summary["verdicts"] == {"resolved": 2, "unchanged": 2} and summary["ungraded"] == []
    graded = (tmp_path / "results.jsonl").read_text().splitlines()

    again, gen2 = run(rows, replies, tmp_path)
    assert gen2.requests == [] and (tmp_path / "results.jsonl").read_text().splitlines() == graded
    assert again["per_task"] == summary["per_task"]
    # a finished output grades without an engine (none is started), and says which engine made it
    done = evaluate_repair("scripted", rows, tmp_path, generator=None, backend="local", n_samples=2, temperature=0.8,
                           progress=False)
    assert done["per_task"] == summary["per_task"] and done["settings"]["engine"]["engine"] == "scripted"
    with pytest.raises(ValueError, match="replies are missing and no engine"):
        evaluate_repair("scripted", rows, tmp_path, generator=None, backend="local", n_samples=3, temperature=0.8,
                        progress=False)


def test_other_settings_into_the_same_output_are_refused_naming_them(rows_and_replies, tmp_path):
    rows, replies = rows_and_replies
    run(rows[:1], replies, tmp_path)
    with pytest.raises(ValueError, match="temperature"):
        run(rows[:1], replies, tmp_path, temperature=0.5)


def test_an_infrastructure_error_is_graded_again_not_kept_as_a_wrong_answer(rows_and_replies, tmp_path):
    rows, replies = rows_and_replies
    run(rows[:1], replies, tmp_path)
    results = tmp_path / "results.jsonl"
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    lines[0] |= {"verdict": "error", "resolved": False, "reason": "docker went away"}
    results.write_text("".join(json.dumps(x) + "\n" for x in lines))
    summary, _ = run(rows[:1], replies, tmp_path)
    assert summary["per_task"] == {"textkit-1": [2, 2]} and summary["verdicts"] == {"resolved": 2}


def test_a_row_that_is_not_a_repair_row_is_named_and_left_out(tmp_path, rows_and_replies):
    rows, _ = rows_and_replies
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"instance_id": "x"}) + "\n{torn\n")
    errors = []
    assert [r["instance_id"] for r in load_rows(path, on_error=errors.append)] == ["textkit-1"]
    assert len(errors) == 2 and "not a repair row (no prompt, instance)" in str(errors[0])


def test_the_command_says_in_one_line_what_is_wrong_with_its_input(tmp_path):
    from typer.testing import CliRunner

    from patchloop.commands.evaluate import app

    missing = CliRunner().invoke(app, ["repair", "--data", str(tmp_path / "none.jsonl"), "--model", "m"])
    assert missing.exit_code == 2 and "none.jsonl: no such file" in missing.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instance_id": "a"}\n')
    empty = CliRunner().invoke(app, ["repair", "--data", str(bad), "--model", "m"])
    assert empty.exit_code == 2 and "no repair rows" in empty.output and "Traceback" not in empty.output
