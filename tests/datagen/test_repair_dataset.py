"""``datagen repair``: repair rows split by package, resumable, refusing mixed settings, with bad
instances counted and a held-out package never reaching a training file. On the 8 built-in
instances (4 repositories), real checkouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchloop.commands.datagen import app
from patchloop.datagen.repos.repair_dataset import HeldoutLeak, RepairDatasetConfig, make_repair_dataset
from patchloop.datagen.repos.repair_split import (
    SPLITS,
    plan_splits,
    portable_instance,
    project_mentions,
    target_digests,
)
from patchloop.evals.datasets import BUILTIN, load_tasks
from patchloop.evals.repair import repair_task
from patchloop.evals.repos import checkout_task_repo
from patchloop.evals.settings_guard import SettingsMismatch
from patchloop.types import Task

LEDGER = "patchloop-examples/ledger"


def make(out: Path, instances=("builtin",), lines: list[str] | None = None, **settings) -> dict:
    cfg = RepairDatasetConfig(**{"heldout_packages": ["ledger"], **settings})
    return make_repair_dataset(cfg, list(instances), out, backend="local", command="test", echo=lines.append if
                               lines is not None else lambda _: None)


def rows(out: Path, split: str) -> list[dict]:
    path = out / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def instances_file(path: Path, extra: list[str] = (), keep=lambda d: True) -> Path:
    """The built-in instances rewritten into ``path`` (repositories named relative to the project,
    so they resolve from anywhere) with ``extra`` lines appended."""
    out = []
    for line in BUILTIN.read_text().splitlines():
        d = json.loads(line)
        d["repo_path"] = "examples/repos/" + d["repo_path"].rsplit("/", 1)[-1]
        if keep(d):
            out.append(json.dumps(d))
    path.write_text("\n".join([*out, *extra]) + "\n")
    return path


def test_no_repository_is_in_two_splits(tmp_path):
    rec = make(tmp_path / "out")
    seen: dict[str, set[str]] = {}
    for split in SPLITS:
        for row in rows(tmp_path / "out", split):
            seen.setdefault(repair_task(row["instance"]).repo, set()).add(split)
    assert len(seen) == 4 and all(len(s) == 1 for s in seen.values()), seen
    assert seen[LEDGER] == {"heldout"}
    assert {s for v in seen.values() for s in v} == set(SPLITS)  # a validation package was drawn
    assert sum(len(rows(tmp_path / "out", s)) for s in SPLITS) == 8 == rec["made"]
    # the seed decides which training package validates, and never one of the held-out ones
    drawn = {p for seed in range(8) for p, s in plan_splits(load_tasks("builtin"), ["ledger"], 0.2, seed).items()
             if s == "validation"}
    assert len(drawn) > 1 and LEDGER not in drawn


def test_a_row_names_its_repository_without_the_machines_dataset_dir(tmp_path):
    make(tmp_path / "out")
    row = rows(tmp_path / "out", "train")[0]
    inst = json.loads(row["instance"])
    assert "_dataset_dir" not in inst and inst["repo_path"].startswith("examples/repos/")
    assert (checkout_task_repo(repair_task(row["instance"]), tmp_path / "co") / ".git").exists()
    url = Task("x-1", "o/x", "abc", extra={"repo_url": "https://example.org/x.git", "_dataset_dir": "/home/me/data"})
    assert portable_instance(url) == ({k: v for k, v in url.to_dict().items() if k != "_dataset_dir"}, None)
    assert "8 rows point at local paths" in (tmp_path / "out" / "card.md").read_text()


def test_a_rerun_resumes_and_skips_finished_rows(tmp_path):
    out = tmp_path / "out"
    make(out)
    lines = (out / "train.jsonl").read_text().splitlines()
    kept = json.loads(lines[0])
    kept["prompt"][1]["content"] = "MADE BY THE FIRST RUN"
    # as a kill leaves it: the last row torn halfway
    (out / "train.jsonl").write_text("\n".join([json.dumps(kept), *lines[1:-1], lines[-1][:40]]))
    rec = make(out)
    assert (rec["made"], rec["resumed"]) == (1, 7)
    again = rows(out, "train")
    assert again[0]["prompt"][1]["content"] == "MADE BY THE FIRST RUN"  # not made twice
    assert sorted(r["instance_id"] for r in again) == sorted(json.loads(x)["instance_id"] for x in lines)


def test_a_rerun_with_another_seed_is_refused_naming_the_seed(tmp_path):
    out = tmp_path / "out"
    make(out)
    before = {s: (out / f"{s}.jsonl").read_bytes() for s in SPLITS}
    with pytest.raises(SettingsMismatch, match=r"seed 0, not 1"):
        make(out, seed=1)
    assert {s: (out / f"{s}.jsonl").read_bytes() for s in SPLITS} == before
    res = CliRunner().invoke(app, ["repair", "--instances", "builtin", "--out", str(out),
                                   "--heldout-packages", "ledger", "--seed", "2"])
    assert res.exit_code == 2 and "seed 0, not 2" in res.output
    make(out, heldout_packages=["LEDGER"])  # one package, another spelling: the same settings


def test_a_malformed_instance_is_named_counted_and_the_rest_go_on(tmp_path):
    (tmp_path / "repos-out").mkdir()  # as `datagen repos` leaves it: OUT/instances.jsonl
    src = instances_file(tmp_path / "repos-out" / "instances.jsonl",
                         ['{"instance_id": "torn-1", "repo": ',
                          json.dumps({"instance_id": "nobase-1", "repo": "o/p", "FAIL_TO_PASS": ["t::x"]})])
    lines: list[str] = []
    rec = make(tmp_path / "out", [str(src.parent)], lines)
    assert len(rec["bad_instances"]) == 2
    assert any(f"{src}:9" in b and "invalid JSON" in b for b in rec["bad_instances"])
    assert any(f"{src}:10" in b and "nobase-1" in b and "base_commit" in b for b in rec["bad_instances"])
    assert sum(1 for line in lines if line.startswith("skipped: ")) == 2
    assert rec["made"] == 8
    card = (tmp_path / "out" / "card.md").read_text()
    assert "2 skipped:" in card and "nobase-1" in card


def test_the_card_lists_counts_per_package_and_split_and_the_fingerprint(tmp_path):
    rec = make(tmp_path / "out")
    card = (tmp_path / "out" / "card.md").read_text()
    fp = json.loads((tmp_path / "out" / "fingerprint.json").read_text())
    assert fp["fingerprint"] == rec["fingerprint"] and f"`{rec['fingerprint']}`" in card
    assert f"| {LEDGER} | 0 | 0 | 2 |" in card and "| **all** | 4 | 2 | 2 |" in card
    assert "`repair-v1`" in card and "Command: `test`" in card and "HumanEval: 0 of 8 rows" in card
    assert fp["counts"]["heldout"] == {LEDGER: 2}
    # ledger is a built-in repository: no package to measure transfer on, and the card says so
    assert fp["checks"]["named_by_project"] == {LEDGER: ["built-in instances"]}
    assert f"project names (README, docs, built-in instances): {LEDGER} in built-in instances" in card
    other = make(tmp_path / "other", validation_fraction=0.0)
    assert other["fingerprint"] != rec["fingerprint"] and other["counts"]["validation"] == {}


def test_a_held_out_repository_under_another_owner_is_refused(tmp_path):
    forks = [json.dumps(dict(json.loads(line), instance_id=f"fork-{i}", repo="someone/ledger",
                             repo_path="examples/repos/ledger"))
             for i, line in enumerate(BUILTIN.read_text().splitlines()[6:8])]
    src = instances_file(tmp_path / "in.jsonl", forks)
    with pytest.raises(HeldoutLeak, match=r"patchloop-examples/ledger is also in (train|validation) as someone/ledger"):
        make(tmp_path / "out", [str(src)], heldout_packages=[LEDGER])
    assert not any((tmp_path / "out" / f"{s}.jsonl").exists() for s in SPLITS)
    make(tmp_path / "both", [str(src)], heldout_packages=["ledger"])  # the bare name holds both out
    assert {r["package"] for r in rows(tmp_path / "both", "heldout")} == {LEDGER, "someone/ledger"}


def test_a_held_out_repository_copied_under_another_name_is_refused(tmp_path):
    forks = [json.dumps(dict(json.loads(line), instance_id=f"books-{i}", repo="someone/bookkeeping",
                             repo_path="examples/repos/ledger"))
             for i, line in enumerate(BUILTIN.read_text().splitlines()[6:8])]
    src = instances_file(tmp_path / "in.jsonl", forks)
    with pytest.raises(HeldoutLeak, match=r"instance books-\d .* same function as held-out instance ledger-\d"):
        make(tmp_path / "out", [str(src)], validation_fraction=0.0)
    training = [r["instance_id"] for s in ("train", "validation") for r in rows(tmp_path / "out", s)]
    assert training and not any(i.startswith("books-") for i in training)  # the leaking row was never written
    assert not (tmp_path / "out" / "card.md").exists()


def test_a_held_out_row_pasted_into_train_since_is_refused_on_rerun(tmp_path):
    out = tmp_path / "out"
    make(out)
    with (out / "train.jsonl").open("a") as fh:
        fh.write(json.dumps(rows(out, "heldout")[0]) + "\n")
    with pytest.raises(HeldoutLeak, match=f"package {LEDGER} has rows in heldout and train"):
        make(out)


def test_a_rerun_on_changed_instances_is_refused_naming_the_inputs(tmp_path):
    src = instances_file(tmp_path / "in.jsonl")
    make(tmp_path / "out", [str(src)])
    instances_file(src, keep=lambda d: d["instance_id"] != "textkit-2")
    with pytest.raises(SettingsMismatch, match=r"inputs \["):
        make(tmp_path / "out", [str(src)])


def test_the_source_digest_ignores_layout_and_docstrings_and_skips_one_liners():
    body = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"
    copy = 'def f(x):\n    """Another docstring."""\n    y = (x +\n         1)  # a comment\n\n    z = y * 2\n    return z\n'
    a, b = (target_digests({"m.py": src}, ["m.py::f"]) for src in (body, copy))
    assert len(a) == 1 and a == b
    assert target_digests({"m.py": body.replace("* 2", "* 3")}, ["m.py::f"]) != a
    assert target_digests({"m.py": "def f(x):\n    return x\n"}, ["m.py::f"]) == []


def test_a_package_the_readme_or_docs_name_is_reported_under_any_spelling(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("Tasks from `toolz==1.2.0` and Python-Slugify.\n")
    (tmp_path / "docs" / "data.md").write_text("we used python_slugify and my.pkg here; toolzy is another\n")
    found = project_mentions(["pytoolz/toolz", "python-slugify", "my-pkg", "toolzy-extra", "semver"],
                             builtin=["owner/semver"], root=tmp_path)
    assert found == {"pytoolz/toolz": ["README.md"], "python-slugify": ["README.md", "docs/data.md"],
                     "my-pkg": ["docs/data.md"], "toolzy-extra": [], "semver": ["built-in instances"]}


def test_an_instance_rebuilt_from_its_release_needs_no_path_of_this_machine():
    task = Task("toolz-1", repo="toolz", extra={"repo_path": "repos/toolz-1.2.0", "repo_sdist": "toolz==1.2.0",
                                                "_dataset_dir": "/somewhere/out"})
    data, local = portable_instance(task)
    assert local is None and "repo_path" not in data and data["repo_sdist"] == "toolz==1.2.0"
    assert "_dataset_dir" not in json.dumps(data)


def test_an_instance_whose_fix_adds_a_method_is_no_repair_row(tmp_path):
    from patchloop.datagen.repos.repair_dataset import refuse_added_definitions
    from patchloop.evals.repos import git

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "box.py").write_text("class Box:\n    def get(self):\n        return 1\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    fixed = "class Box:\n    def get(self):\n        return 1\n\n    def size(self):\n        return 0\n"
    (repo / "box.py").write_text(fixed)
    patch = git(repo, "diff", strip=False)
    git(repo, "checkout", "--", "box.py")
    files = {"box.py": (repo / "box.py").read_text()}
    with pytest.raises(ValueError, match=r"the fix adds box.py::Box.size"):
        refuse_added_definitions(Task("box-1", patch=patch), repo, files)
    git(repo, "checkout", "--", "box.py")
    body = "class Box:\n    def get(self):\n        return 2\n"
    (repo / "box.py").write_text(body)
    edit = git(repo, "diff", strip=False)
    git(repo, "checkout", "--", "box.py")
    refuse_added_definitions(Task("box-2", patch=edit), repo, files)  # a changed body is a repair task
