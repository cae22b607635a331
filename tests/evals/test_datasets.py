"""Instances and predictions in every format the official tools accept; bad items are one line each."""

from __future__ import annotations

import json

import pytest

from patchloop.evals.datasets import load_predictions, load_tasks

ROW = {"instance_id": "a-1", "repo": "o/a", "base_commit": "abc", "patch": "P", "test_patch": "T",
       "FAIL_TO_PASS": json.dumps(["t.py::test_x[a b]"]), "PASS_TO_PASS": "[]", "version": "1.0",
       "problem_statement": "x", "environment_setup_commit": "abc", "repo_path": "../repo"}


def _rows(n=3):
    return [dict(ROW, instance_id=f"a-{i}") for i in range(n)]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet", "hf"])
def test_instances_load_from_each_format(tmp_path, fmt):
    rows = _rows()
    if fmt == "jsonl":
        path = tmp_path / "d.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "json":
        path = tmp_path / "d.json"
        path.write_text(json.dumps(rows))
    else:
        import datasets

        ds = datasets.Dataset.from_list(rows)
        if fmt == "parquet":
            path = tmp_path / "d.parquet"
            ds.to_parquet(str(path))
        else:
            path = tmp_path / "hf"
            datasets.DatasetDict({"test": ds}).save_to_disk(str(path))
    tasks = load_tasks(path)
    assert [t.instance_id for t in tasks] == ["a-0", "a-1", "a-2"]
    assert tasks[0].FAIL_TO_PASS == ["t.py::test_x[a b]"] and tasks[0].PASS_TO_PASS == []
    assert tasks[0].extra["repo_path"] == "../repo"
    assert tasks[0].extra["_dataset_dir"] == str(path.resolve().parent)


def test_bad_instances_are_reported_one_line_each_and_rest_loads(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps(ROW), "{broken json", json.dumps({"repo": "no id"}),
             json.dumps(dict(ROW, instance_id="a-2", FAIL_TO_PASS="not json")), json.dumps(ROW),
             json.dumps(dict(ROW, instance_id="a-3", FAIL_TO_PASS="[]")), "[1, 2]", json.dumps(dict(ROW, instance_id="ok"))]
    path.write_text("\n".join(lines) + "\n")
    errors = []
    tasks = load_tasks(path, on_error=errors.append)
    assert [t.instance_id for t in tasks] == ["a-1", "ok"]
    msgs = [str(e) for e in errors]
    assert len(msgs) == 6 and all("\n" not in m for m in msgs)
    assert msgs[0].startswith(f"{path}:2: invalid JSON")
    assert msgs[1].startswith(f"{path}:3: missing field(s): instance_id")
    assert msgs[2].startswith(f"{path}:4: instance a-2: field 'FAIL_TO_PASS'")
    assert msgs[3] == f"{path}:5: instance a-1: duplicate instance_id"
    assert "FAIL_TO_PASS is empty" in msgs[4]
    assert msgs[5].startswith(f"{path}:7: expected a JSON object")


def test_predictions_jsonl_json_list_and_dict(tmp_path):
    tasks = load_tasks("builtin")
    ids = [t.instance_id for t in tasks]
    preds = [{"instance_id": i, "model_name_or_path": "m", "model_patch": f"p{i}"} for i in ids[:2]]
    jl = tmp_path / "p.jsonl"
    jl.write_text("".join(json.dumps(p) + "\n" for p in preds))
    lst = tmp_path / "p.json"
    lst.write_text(json.dumps(preds))
    dct = tmp_path / "d.json"
    dct.write_text(json.dumps({p["instance_id"]: {"model_patch": p["model_patch"], "model_name_or_path": "m"}
                               for p in preds}))
    for path in (jl, lst, dct):
        got = load_predictions(path, tasks)
        assert {k: v.model_patch for k, v in got.items()} == {i: f"p{i}" for i in ids[:2]}


def test_gold_and_empty(tmp_path):
    tasks = load_tasks("builtin")
    gold = load_predictions("gold", tasks)
    assert all(gold[t.instance_id].model_patch == t.patch for t in tasks)
    assert all(p.model_patch == "" for p in load_predictions("empty", tasks).values())


def test_bad_predictions_are_reported_and_rest_loads(tmp_path):
    tasks = load_tasks("builtin")
    good = tasks[0].instance_id
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join([
        json.dumps({"instance_id": "nope", "model_patch": "x"}),
        json.dumps({"instance_id": good}),
        "not json",
        json.dumps({"instance_id": good, "model_patch": None, "model_name_or_path": "m"}),
        json.dumps({"instance_id": good, "model_patch": "dup"}),
        json.dumps({"instance_id": tasks[1].instance_id, "model_patch": 5}),
    ]) + "\n")
    errors = []
    got = load_predictions(path, tasks, on_error=errors.append)
    assert list(got) == [good] and got[good].model_patch == ""
    msgs = [str(e) for e in errors]
    assert msgs == [
        f"{path}:1: instance nope: unknown instance_id 'nope'",
        f"{path}:2: instance {good}: missing field(s): model_patch",
        f"{path}:3: invalid JSON (Expecting value)",
        f"{path}:5: instance {good}: duplicate prediction for '{good}'",
        f"{path}:6: instance {tasks[1].instance_id}: model_patch must be a string",
    ]
