"""Stage records round-trip; a hand-edited record and records that cannot be compared are
refused naming the field; a resumed stage keeps the wall time it had spent."""

from __future__ import annotations

import json

import pytest

from patchloop.evals.stages import StageError, WallBudget, read_stage, read_stages, require_same, write_stage

ENGINE = {"engine": "vllm-cpu", "dtype": "float32", "machine": {"kind": "avx2", "cpu": "x"}}


def write(tmp_path, stage="start", engine=ENGINE, **figures):
    return write_stage(tmp_path, "demo", stage, settings={"k": 1}, engine=engine, figures=figures or {"pass1": 0.5},
                       items=[{"id": "a", "passed": True}], wall_s=12.5)


def test_a_record_round_trips_with_its_provenance(tmp_path):
    rec = read_stage(write(tmp_path))
    assert rec["figures"] == {"pass1": 0.5} and rec["items"] == [{"id": "a", "passed": True}]
    assert rec["machine"] == {"kind": "avx2", "cpu": "x"} and rec["engine"]["dtype"] == "float32"
    assert rec["commit"] and rec["created"].endswith("Z") and rec["wall_s"] == 12.5


def test_a_hand_edited_record_is_refused_naming_the_field(tmp_path):
    path = write(tmp_path)
    rec = json.loads(path.read_text())
    rec["figures"]["pass1"] = 0.9
    path.write_text(json.dumps(rec))
    with pytest.raises(StageError, match="field 'figures'"):
        read_stage(path)


def test_a_record_without_checksums_is_refused(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"figures": {}}))
    with pytest.raises(StageError, match="no checksums"):
        read_stages(tmp_path)


def test_records_from_different_engines_are_not_compared(tmp_path):
    write(tmp_path, "start")
    write(tmp_path, "arm-grpo", engine={**ENGINE, "dtype": "bfloat16"})
    records = read_stages(tmp_path)
    require_same(records, ["engine.engine"])  # same engine: fine
    with pytest.raises(StageError, match="differ in engine.dtype"):
        require_same(records, ["engine.engine", "engine.dtype"])


def test_a_record_over_a_megabyte_is_refused(tmp_path):
    with pytest.raises(StageError, match="over the 1 MB"):
        write_stage(tmp_path, "demo", "big", settings={}, engine=None, figures={}, items=[{"x": "y" * 2_000_000}])
    assert not list(tmp_path.glob("*.json"))


def test_a_resumed_stage_keeps_its_spent_wall_time(tmp_path):
    first = WallBudget(tmp_path / "budget.json", budget_s=100)
    first.before = 30.0  # as if 30 s had been spent before this process
    first.save()
    second = WallBudget(tmp_path / "budget.json", budget_s=100)
    assert second.before >= 30.0 and second.left() <= 70.0
