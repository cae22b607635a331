"""``datagen functions``: verified tasks, deterministic output, clean splits, HF dataset, CLI."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from typer.testing import CliRunner

from patchloop.datagen import overlap
from patchloop.datagen.families import FAMILIES
from patchloop.datagen.functions import FunctionsConfig, generate, level_quotas, to_task
from patchloop.datagen.run_functions import load_function_split, run_functions
from patchloop.evals.func.grade import grade_function_batch
from patchloop.types import FunctionTask, read_jsonl


@pytest.fixture(scope="module")
def local_sandbox():
    from patchloop.sandbox import open_sandbox

    with open_sandbox("local", task_id="datagen-tests") as sb:
        yield sb


@pytest.fixture(scope="module")
def generated(tmp_path_factory, local_sandbox):
    out = tmp_path_factory.mktemp("gen")
    fp = run_functions(FunctionsConfig(n=60, seed=7), out, sandbox=local_sandbox, progress=False)
    return out, fp


def test_every_family_and_level_yields_a_verified_short_task(local_sandbox):
    tasks = [to_task(build(random.Random(level * 31 + i), level), 0)
             for build, top in FAMILIES.values() for level in range(1, top + 1) for i in range(3)]
    results = grade_function_batch(tasks, [t.canonical_solution for t in tasks], sandbox=local_sandbox)
    assert [r.status for r in results] == ["PASS"] * len(tasks)
    for t in tasks:
        assert t.canonical_solution.count("\n") == 1 and len(t.canonical_solution) < 200
        assert t.test.startswith("def check(candidate):") and len(t.extra["cases"]) == 5
        assert {"family", "level", "params", "seed"} <= set(t.extra)
    # the structured cases and check() agree: a wrong body fails both
    bad = grade_function_batch(tasks[:3], ["    return None\n"] * 3, sandbox=local_sandbox)
    assert all(r.status == "FAIL" for r in bad)


def test_arithmetic_prompt_reads_like_the_issue():
    t = to_task(FAMILIES["arith"][0](random.Random(3), 2), 0)
    assert t.prompt.startswith('def calc(x):\n    """Return x ') and ", then " in t.prompt


def test_splits_sizes_levels_and_rl_has_no_solutions(generated):
    out, fp = generated
    assert fp["counts"] == {"sft": 30, "rl": 18, "heldout": 12}
    sft, rl, held = (read_jsonl(out / f"{s}.jsonl", FunctionTask) for s in ("sft", "rl", "heldout"))
    assert {t.extra["level"] for t in sft} <= {1, 2} and all(t.canonical_solution for t in sft)
    assert {t.extra["level"] for t in rl} <= {1, 2, 3} and all(t.canonical_solution == "" for t in rl)
    assert {t.extra["level"] for t in held} == {1, 2, 3, 4}
    assert all(t.extra["cases"] and t.test for t in rl)


def test_a_weighted_level_stays_scarce_when_lower_levels_run_out():
    # One- and two-step arithmetic tasks run out long before the SFT quota is met; their spill
    # must not flood the scarce labelled three-step level (nor starve the other splits of it).
    cfg = FunctionsConfig(n=2400, seed=0, families=["arith"],
                          levels={"sft": [1, 2, 3], "rl": [1, 2, 3], "heldout": [1, 2, 3, 4]},
                          level_weights={"sft": {3: 0.1}})
    splits, stats = generate(cfg, lambda tasks: [True] * len(tasks))
    count = {s: Counter(t.extra["level"] for t in ts) for s, ts in splits.items()}
    assert "sft/L2" in stats["level_exhausted"]
    quota = level_quotas(cfg, "sft", cfg.quotas()["sft"])[3]
    assert quota == 57 and quota // 2 < count["sft"][3] <= quota  # short by the overlap drops only
    assert count["rl"][3] > 300 and count["heldout"][3] > 100


def test_no_task_is_shared_between_splits(generated):
    out, fp = generated
    report = json.loads((out / "overlap.json").read_text())
    assert report["clean"] and report == fp["overlap"]
    for fig in report["pairs"].values():
        assert fig["exact"] == 0 and fig["covered"] == 0
    ids = [t.task_id for s in ("sft", "rl", "heldout") for t in read_jsonl(out / f"{s}.jsonl", FunctionTask)]
    assert len(ids) == len(set(ids))


def test_overlap_check_catches_exact_and_covered_copies():
    a = FunctionTask("a", 'def calc(x):\n    """Return x plus 3, then times 2."""\n', "calc", canonical_solution="    return (x + 3) * 2\n")
    b = FunctionTask("b", 'def calc(x):\n    """Return  x plus 3, then times 2."""\n', "calc", canonical_solution="    return 1\n")
    c = FunctionTask("c", 'def calc(x):\n    """Return x minus 1."""\n', "calc", canonical_solution="    return (x + 3) * 2\n")
    d = FunctionTask("d", 'def calc(x):\n    """Return x minus 2."""\n', "calc", canonical_solution="    return x - 2\n")
    assert overlap.offenders({"sft": [a], "heldout": [b, c, d]}, 8) == {"a", "b", "c"}
    rep = overlap.split_overlap({"sft": [a], "heldout": [d]}, 8)
    assert rep["clean"] and rep["pairs"]["heldout->sft"]["exact"] == 0


def test_same_seed_gives_byte_identical_jsonl(tmp_path, local_sandbox, generated):
    out, fp = generated
    again = tmp_path / "again"
    fp2 = run_functions(FunctionsConfig(n=60, seed=7), again, sandbox=local_sandbox, progress=False)
    for s in ("sft", "rl", "heldout"):
        assert (again / f"{s}.jsonl").read_bytes() == (out / f"{s}.jsonl").read_bytes()
    assert (again / "fingerprint.json").read_bytes() == (out / "fingerprint.json").read_bytes()
    other = run_functions(FunctionsConfig(n=60, seed=8), tmp_path / "other", sandbox=local_sandbox, progress=False)
    assert (tmp_path / "other" / "sft.jsonl").read_bytes() != (out / "sft.jsonl").read_bytes()
    assert other["config_hash"] != fp2["config_hash"]


def test_fingerprint_and_hf_dataset(generated):
    out, fp = generated
    saved = json.loads((out / "fingerprint.json").read_text())
    assert saved["generator"] and saved["seed"] == 7 and saved["n"] == 60 and len(saved["config_hash"]) == 16
    held = load_function_split(out / "hf", "heldout")
    assert [t.task_id for t in held] == [t.task_id for t in read_jsonl(out / "heldout.jsonl", FunctionTask)]
    assert held[0].extra["cases"] == read_jsonl(out / "heldout.jsonl", FunctionTask)[0].extra["cases"]
    # a row from the saved dataset is gradable as is (JSON-string columns are decoded)
    import datasets

    from patchloop.evals.func.evaluate import to_function_task

    row = datasets.load_from_disk(str(out / "hf"))["sft"][0]
    assert to_function_task(row).extra["cases"][0]["args"]


def test_cli_datagen_functions(tmp_path):
    from patchloop.cli import app

    res = CliRunner().invoke(app, ["datagen", "functions", "--n", "12", "--out", str(tmp_path / "o"), "--seed", "1",
                                   "--families", "arith", "--backend", "local", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "wrote sft 7, rl 3, heldout 2" in res.output and "overlap heldout->sft: exact 0" in res.output
    assert all(t.extra["family"] == "arith" for t in read_jsonl(tmp_path / "o" / "sft.jsonl", FunctionTask))
    res = CliRunner().invoke(app, ["datagen", "functions", "--n", "20", "--out", str(tmp_path / "l"), "--families", "arith",
                                   "--rl-levels", "3", "--heldout-levels", "3", "--fractions", "0.5,0.25,0.25",
                                   "--backend", "local", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert {t.extra["level"] for t in read_jsonl(tmp_path / "l" / "rl.jsonl", FunctionTask)} == {3}
    assert len(read_jsonl(tmp_path / "l" / "heldout.jsonl", FunctionTask)) == 5
    res = CliRunner().invoke(app, ["datagen", "functions", "--n", "40", "--out", str(tmp_path / "w"), "--families", "arith",
                                   "--sft-levels", "2,3:0.25", "--fractions", "1,0,0", "--backend", "local",
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    levels = [t.extra["level"] for t in read_jsonl(tmp_path / "w" / "sft.jsonl", FunctionTask)]
    assert (levels.count(2), levels.count(3)) == (32, 8)  # level 3 weighted to a fifth of the split
    bad = CliRunner().invoke(app, ["datagen", "functions", "--n", "12", "--out", str(tmp_path / "x"),
                                   "--sft-levels", "1,2:x", "--backend", "local", "--no-progress"])
    assert bad.exit_code != 0 and "LEVEL:WEIGHT" in bad.output
    bad = CliRunner().invoke(app, ["datagen", "functions", "--n", "12", "--out", str(tmp_path / "x"),
                                   "--families", "nope", "--backend", "local", "--no-progress"])
    assert bad.exit_code != 0 and "unknown family" in bad.output


def test_a_killed_run_resumes_from_the_verdicts_it_wrote(tmp_path, local_sandbox, generated, monkeypatch):
    """A run killed halfway (half its verdicts written, the last line torn) verifies only the
    rest when run again, and writes the same bytes as a run that was never interrupted."""
    import patchloop.datagen.run_functions as rf

    out, _ = generated
    lines = (out / "verified.jsonl").read_text().splitlines()
    assert len(lines) >= 60
    half = len(lines) // 2
    run = tmp_path / "resumed"
    run.mkdir()
    (run / "verified.jsonl").write_text("\n".join(lines[:half]) + "\n" + lines[half][:25])
    graded: list[int] = []
    real = rf.grade_function_batch
    monkeypatch.setattr(rf, "grade_function_batch", lambda tasks, *a, **k: graded.append(len(tasks)) or real(tasks, *a, **k))
    run_functions(FunctionsConfig(n=60, seed=7), run, sandbox=local_sandbox, progress=False)
    assert sum(graded) == len(lines) - half
    for name in ("sft.jsonl", "rl.jsonl", "heldout.jsonl", "fingerprint.json", "overlap.json"):
        assert (run / name).read_bytes() == (out / name).read_bytes(), name
    graded.clear()
    run_functions(FunctionsConfig(n=60, seed=7), run, sandbox=local_sandbox, progress=False)
    assert graded == []  # a finished run verifies nothing again


def test_shared_ngrams_are_reported_not_removed():
    """What the split check guarantees, and no more (docs/benchmarks.md says the same): exact
    copies and fully covered prompts go; a held-out three-step task that begins like a training
    two-step task stays, and is counted under ``any_shared_ngram``."""
    train = FunctionTask("t", 'def calc(x):\n    """Return x plus 5, then modulo 3, then times 2."""\n', "calc",
                         canonical_solution="    return (x + 5) % 3 * 2\n")
    held = FunctionTask("h", 'def calc(x):\n    """Return x plus 5, then modulo 3, then times 2, then minus 7."""\n',
                        "calc", canonical_solution="    return (x + 5) % 3 * 2 - 7\n")
    splits = {"sft": [train], "heldout": [held]}
    assert overlap.offenders(splits, 8) == set()
    rep = overlap.split_overlap(splits, 8)
    assert rep["clean"] and rep["pairs"]["heldout->sft"]["any_shared_ngram"] == 1
