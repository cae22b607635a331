"""The shared records: dict and JSONL round trips, SWE-bench quirks, hostile files."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchloop.types import (
    ExecResult,
    FunctionTask,
    Prediction,
    RecordError,
    Step,
    Task,
    TestReport,
    Trajectory,
    append_jsonl,
    iter_jsonl,
    read_jsonl,
    write_json,
    write_jsonl,
)

SAMPLES = [
    ExecResult(cmd="pytest -q", exit_code=1, stdout="F\n", stderr="boom", duration_s=0.25,
               timed_out=True, oom_killed=True, truncated=True),
    Task(instance_id="psf__requests-1", repo="psf/requests", base_commit="abc123",
         problem_statement="fails on ü", patch="--- a/x\n+++ b/x\n", test_patch="--- a/t\n",
         FAIL_TO_PASS=["tests/test_x.py::test_a[1-2]"], PASS_TO_PASS=["tests/test_x.py::test_b"],
         version="2.0", environment_setup_commit="def456", extra={"hints_text": "look at x"}),
    FunctionTask(task_id="fn/0", prompt="def add(a, b):\n", entry_point="add",
                 test="def check(c):\n    assert c(1, 2) == 3\n", canonical_solution="    return a + b\n",
                 extra={"family": "arith", "seed": 3}),
    TestReport(status={"t::a": "PASSED", "t::b": "FAILED"}, exit_code=1, timed_out=False, log="..."),
    Prediction(instance_id="psf__requests-1", model_patch="diff", model_name_or_path="tiny",
               extra={"cost": 0.0}),
    Step(index=2, messages=[{"role": "assistant", "content": "hi"}], tool_calls=[{"name": "run"}],
         observations=["ok"], model_s=0.5, tools_s=0.1, prompt_tokens=10, completion_tokens=3,
         token_ids=[1, 2, 3], logprobs=[-0.1, -0.2, -0.3], extra={"k": "v"}),
    Trajectory(instance_id="i", model_name_or_path="tiny",
               steps=[Step(index=0), Step(index=1, observations=["x"])], model_patch="p",
               exit_reason="submitted", wall_s=1.5, prompt_tokens=5, completion_tokens=6,
               extra={"seed": 1}),
]


@pytest.mark.parametrize("rec", SAMPLES, ids=lambda r: type(r).__name__)
def test_dict_round_trip(rec):
    again = type(rec).from_dict(json.loads(json.dumps(rec.to_dict())))
    assert again == rec


@pytest.mark.parametrize("rec", SAMPLES, ids=lambda r: type(r).__name__)
def test_jsonl_round_trip(rec, tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [rec, rec])
    append_jsonl(path, rec)
    assert read_jsonl(path, type(rec)) == [rec, rec, rec]


def test_trajectory_steps_come_back_as_steps():
    traj = Trajectory.from_dict(SAMPLES[-1].to_dict())
    assert all(isinstance(s, Step) for s in traj.steps)


def test_swebench_test_lists_given_as_json_strings():
    # SWE-bench on the hub stores FAIL_TO_PASS / PASS_TO_PASS as JSON-encoded strings.
    row = {"instance_id": "a__b-1", "FAIL_TO_PASS": '["t.py::test_x[a-b]", "t.py::test_y"]',
           "PASS_TO_PASS": "[]"}
    task = Task.from_dict(row)
    assert task.FAIL_TO_PASS == ["t.py::test_x[a-b]", "t.py::test_y"]
    assert task.PASS_TO_PASS == []


@pytest.mark.parametrize("bad", ['"not a list', '{"a": 1}', "[1, 2]"])
def test_bad_test_list_names_the_field(bad):
    with pytest.raises(ValueError, match="FAIL_TO_PASS"):
        Task.from_dict({"instance_id": "x", "FAIL_TO_PASS": bad})


def test_unknown_fields_are_kept_and_written_back():
    row = {"instance_id": "x", "hints_text": "h", "created_at": "2024-01-01", "nested": {"a": [1]}}
    task = Task.from_dict(row)
    assert task.extra == {"hints_text": "h", "created_at": "2024-01-01", "nested": {"a": [1]}}
    assert task.to_dict()["nested"] == {"a": [1]}
    assert {k: task.to_dict()[k] for k in row} == row


def test_missing_required_field_is_named():
    with pytest.raises(ValueError, match="instance_id"):
        Task.from_dict({"repo": "x"})
    with pytest.raises(ValueError, match="cmd, exit_code"):
        ExecResult.from_dict({})


def test_exec_result_ok_and_output():
    assert ExecResult(cmd="true", exit_code=0).ok
    assert not ExecResult(cmd="x", exit_code=0, timed_out=True).ok
    assert not ExecResult(cmd="x", exit_code=0, oom_killed=True).ok
    assert ExecResult(cmd="x", exit_code=1, stdout="a\n", stderr="b").output == "a\nb"


def test_malformed_lines_reported_as_file_line(tmp_path):
    path = tmp_path / "tasks.jsonl"
    good = json.dumps({"instance_id": "ok1"})
    path.write_text("\n".join([good, "{not json", "[1, 2]", json.dumps({"repo": "no id"}), "", good]) + "\n")
    with pytest.raises(RecordError) as err:
        read_jsonl(path, Task)
    assert str(err.value).startswith(f"{path}:2: invalid JSON")
    assert "\n" not in str(err.value)

    errors: list[RecordError] = []
    tasks = read_jsonl(path, Task, skip_bad=True, on_error=errors.append)
    assert [t.instance_id for t in tasks] == ["ok1", "ok1"]
    assert [e.where for e in errors] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "expected a JSON object" in errors[1].msg
    assert "missing field(s): instance_id" in errors[2].msg


def test_torn_last_line_is_reported_and_the_rest_read(tmp_path):
    # A run killed mid-write leaves half a line; readers report it and keep the rest.
    path = tmp_path / "preds.jsonl"
    for i in range(3):
        append_jsonl(path, Prediction(instance_id=f"i{i}", model_patch="p"))
    with open(path, "a") as fh:
        fh.write('{"instance_id": "i3", "model_pa')
    errors = []
    preds = list(iter_jsonl(path, Prediction, skip_bad=True, on_error=errors.append))
    assert [p.instance_id for p in preds] == ["i0", "i1", "i2"]
    assert len(errors) == 1 and errors[0].where == f"{path}:4"


def test_dicts_without_a_class(tmp_path):
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [{"a": 1}, {"b": [2]}])
    assert read_jsonl(path) == [{"a": 1}, {"b": [2]}]
    path.write_text("[1]\n")
    with pytest.raises(RecordError, match=":1: expected a JSON object"):
        read_jsonl(path)


def test_write_jsonl_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out" / "x.jsonl"
    write_jsonl(path, [{"a": 1}])

    def explode():
        yield {"a": 2}
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(path, explode())
    assert read_jsonl(path) == [{"a": 1}]  # the old file is untouched
    assert [p.name for p in path.parent.iterdir()] == ["x.jsonl"]


def test_write_json(tmp_path):
    path = tmp_path / "a" / "cfg.json"
    write_json(path, {"x": [1, "ü"]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"x": [1, "ü"]}


text = st.text(max_size=40)
test_ids = st.lists(st.text(min_size=1, max_size=30), max_size=5)
extra = st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in Task.__dataclass_fields__),
                        st.one_of(st.integers(), text, st.lists(st.integers(), max_size=3)), max_size=3)
tasks = st.builds(Task, instance_id=st.text(min_size=1, max_size=30), repo=text, base_commit=text,
                  problem_statement=text, patch=text, test_patch=text, FAIL_TO_PASS=test_ids,
                  PASS_TO_PASS=test_ids, version=text, environment_setup_commit=text, extra=extra)


@settings(max_examples=100, deadline=None)
@given(tasks)
def test_task_round_trip_property(task):
    assert Task.from_dict(json.loads(json.dumps(task.to_dict()))) == task
    # and as SWE-bench writes it, with the lists as JSON strings
    row = task.to_dict()
    row["FAIL_TO_PASS"] = json.dumps(row["FAIL_TO_PASS"])
    row["PASS_TO_PASS"] = json.dumps(row["PASS_TO_PASS"])
    assert Task.from_dict(row) == task


@settings(max_examples=50, deadline=None)
@given(st.builds(ExecResult, cmd=text, exit_code=st.integers(-255, 255), stdout=text, stderr=text,
                 duration_s=st.floats(0, 1e6), timed_out=st.booleans(), oom_killed=st.booleans(),
                 truncated=st.booleans()))
def test_exec_result_round_trip_property(res):
    assert ExecResult.from_dict(json.loads(json.dumps(res.to_dict()))) == res
