"""`datagen functions --out` is one run: a rerun with another seed (or any other setting) is
refused naming it, instead of replacing the tasks there."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from patchloop.cli import app
from patchloop.datagen.functions import FunctionsConfig
from patchloop.datagen.run_functions import run_functions
from patchloop.evals.settings_guard import SettingsMismatch


def _cfg(seed: int) -> FunctionsConfig:
    return FunctionsConfig(n=12, seed=seed, families=["arith"])


@pytest.fixture(scope="module")
def seed0(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed0")
    run_functions(_cfg(0), out, backend="local", progress=False)
    return out


def test_another_seed_into_the_same_out_is_refused_and_keeps_the_tasks(seed0):
    before = (seed0 / "sft.jsonl").read_bytes()
    with pytest.raises(SettingsMismatch, match=r"was made with seed 0, not 3: use another --out"):
        run_functions(_cfg(3), seed0, backend="local", progress=False)
    assert (seed0 / "sft.jsonl").read_bytes() == before
    res = CliRunner().invoke(app, ["datagen", "functions", "--n", "12", "--families", "arith", "--seed", "3",
                                   "--out", str(seed0), "--backend", "local", "--no-progress"])
    assert res.exit_code != 0 and "seed 0, not 3" in res.output and "Traceback" not in res.output
    assert (seed0 / "sft.jsonl").read_bytes() == before
    run_functions(_cfg(0), seed0, backend="local", progress=False)  # the same settings resume
    assert (seed0 / "sft.jsonl").read_bytes() == before


def test_an_output_from_before_run_json_is_checked_against_its_fingerprint(seed0, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "fingerprint.json").write_text((seed0 / "fingerprint.json").read_text())
    with pytest.raises(SettingsMismatch, match="seed 0, not 3"):
        run_functions(_cfg(3), old, backend="local", progress=False)
    assert json.loads((old / "fingerprint.json").read_text())["seed"] == 0


def test_datagen_repos_names_the_setting_that_differs(tmp_path):
    from patchloop.datagen.repos.pipeline import ReposConfig, check_fingerprint

    check_fingerprint(tmp_path, ReposConfig(seed=0))
    with pytest.raises(SettingsMismatch, match=r"was made with seed 0, not 3: use another --out"):
        check_fingerprint(tmp_path, ReposConfig(seed=3))
    with pytest.raises(SettingsMismatch, match=r"was made with combine 0, not 2"):
        check_fingerprint(tmp_path, ReposConfig(combine=2))
    check_fingerprint(tmp_path, ReposConfig(seed=0))
