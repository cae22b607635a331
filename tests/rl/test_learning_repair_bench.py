"""bench/learning_repair.py, staged: the tasks stage refuses a dataset under the issue's
minimums (naming each), the start stage writes a record of per-task verdicts measured on one
engine, and the report compares only records made with the same settings. The tiny model and
the built-in repair rows (a plumbing check; the real figures come from the committed data)."""

from __future__ import annotations

import json

import pytest

from bench import learning_repair as lr
from patchloop.datagen.repos.repair_dataset import RepairDatasetConfig, make_repair_dataset
from patchloop.evals.stages import StageError, read_stage

pytestmark = [pytest.mark.train, pytest.mark.slow]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("repair-data")
    make_repair_dataset(RepairDatasetConfig(heldout_packages=["ledger", "textkit"], validation_fraction=0.0),
                        ["builtin"], out, backend="local", echo=lambda _: None)
    return out


def test_a_dataset_under_the_minimums_is_refused_naming_each_shortfall(data, tmp_path):
    with pytest.raises(SystemExit, match=r"train: 4 rows from 2 packages \(want >= 300 from >= 6\); heldout: 4 rows "
                                         r"from 2 packages \(want >= 100 from >= 3\); held-out packages the project "
                                         r"names"):
        lr.main(["tasks", "--data", str(data), "--results", str(tmp_path)])


def test_start_records_per_task_verdicts_and_report_refuses_mixed_settings(data, tiny_model, tmp_path):
    common = ["--data", str(data), "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs"),
              "--allow-small", "--model", str(tiny_model), "--engine", "hf", "--backend", "local",
              "--limit", "3", "--humaneval-limit", "2", "--max-new-tokens", "8"]
    lr.main(["tasks", *common])
    lr.main(["start", *common])
    start = read_stage(tmp_path / "results" / "start.json")
    assert len(start["items"]["heldout"]) == 3 and len(start["items"]["humaneval"]) == 2
    assert all(nc == [4, 0] for nc in start["items"]["heldout_sampled"].values())  # 8 tokens never fix a bug
    assert start["figures"]["pass1"] == 0.0 and start["engine"]["engine"] == "hf"
    assert sum(start["figures"]["verdicts"].values()) == 3

    lr.main(["report", *common])
    rep = json.loads((tmp_path / "results" / "report.json").read_text())
    assert rep["start"]["pass1"] == 0.0 and rep["arms"] == {} and rep["engine"]["engine"] == "hf"

    # an arm measured with another token limit cannot sit in the same table
    other = lr.parse(["arm", *common[:-1], "16"])
    held = {"greedy": {"pass@1": 0.0, "tasks": 3, "verdicts": {}, "per_task": {k: [1, 0] for k in start["items"]["heldout"]},
                       "ungraded": []}}
    lr.write(other, "grpo-seed0", held, {k: False for k in start["items"]["humaneval"]}, start["engine"], 1.0,
             {"method": "grpo", "seed": 0})
    with pytest.raises(StageError, match="settings.max_new_tokens"):
        lr.main(["report", *common])

