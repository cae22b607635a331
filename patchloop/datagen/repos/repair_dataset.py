"""``datagen repair``: SWE-style instances -> repair rows in train / validation / heldout files.

Layout of ``OUT``::

    fingerprint.json      settings, the inputs' hashes, their fingerprint, counts, the checks
    train.jsonl           repair rows (``datagen.repos.repair``) of the training packages
    validation.jsonl      a seeded share of the training packages, for tuning
    heldout.jsonl         the packages named held out (none unless named)
    card.md               the data card: counts per package and split, prompt version, checks

Rows are appended one by one as they are made, so a killed run resumes where it stopped; a
rerun with other settings or other input files is refused (``evals.settings_guard``) naming
what differs. Held-out rows are made first, so every training row is checked against all of
them before it is written (``repair_split``): a held-out package never reaches a training file.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from patchloop.datagen.repos.repair import FOCUS_TOKENS, REPAIR_VERSION, row_from_files, source_files
from patchloop.datagen.repos.repair_card import humaneval_overlap, write_card
from patchloop.datagen.repos.repair_split import (
    SPLITS,
    TRAINING,
    HeldoutLeak,
    check_names,
    check_sources,
    check_written,
    package,
    plan_splits,
    portable_instance,
    project_mentions,
    target_digests,
)
from patchloop.evals.datasets import BUILTIN, load_tasks
from patchloop.evals.repos import checkout_task_repo
from patchloop.evals.settings_guard import guard_settings
from patchloop.types import (
    RecordError,
    Task,
    append_jsonl,
    iter_jsonl,
    sha256_file,
    write_json,
    write_jsonl,
)

DATASET_VERSION = 2  # 2: nested functions are targets; fixes that add a definition are no rows
Echo = Callable[[str], None]


class RepairDatasetConfig(BaseModel):
    """Settings that decide the rows and their splits (all part of the fingerprint)."""

    seed: int = Field(0, description="Seed of which training packages go to validation.")
    heldout_packages: list[str] = Field(default_factory=list, description="Packages (repo or its last part) held out.")
    validation_fraction: float = Field(0.2, description="Share of the training packages put in validation.")
    test_output: bool = Field(False, description="Show the failing tests' output in the prompt (runs the harness).")
    focus_tokens: int = Field(FOCUS_TOKENS, description="Tokens of code the prompt shows (the agent's default).")
    timeout_s: float = Field(120.0, description="Seconds for the test run behind --test-output.")

    def settings(self) -> dict:
        """What the output directory records and a rerun must match: held-out names in one
        spelling, so ``a,b`` and ``b,a`` are one setting."""
        data = self.model_dump(mode="json")
        data["heldout_packages"] = sorted({h.strip().strip("/").lower() for h in self.heldout_packages if h.strip()})
        return {**data, "prompt_version": REPAIR_VERSION, "dataset_version": DATASET_VERSION}


def instances_file(spec: str) -> Path:
    """The file behind an ``--instances`` value: ``builtin``, a file, or a ``datagen repos``
    output directory (its ``instances.jsonl``); other directories load as saved HF datasets."""
    path = BUILTIN if spec == "builtin" else Path(spec)
    return path / "instances.jsonl" if path.is_dir() and (path / "instances.jsonl").is_file() else path


def _digest(path: Path) -> str:
    if path.is_dir():  # a saved HF dataset: its files' hashes, in name order
        parts = [f"{p.relative_to(path)}:{sha256_file(p)}" for p in sorted(path.rglob("*")) if p.is_file()]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return sha256_file(path)


def load_instances(specs: list[str], on_error: Callable[[RecordError], None]) -> tuple[list[Task], list[dict]]:
    """Every instance of every input (a bad one, or an id seen in an earlier input, goes to
    ``on_error``) and each input's hash (what the fingerprint holds: not the path, which
    differs between machines)."""
    tasks: list[Task] = []
    inputs: list[dict] = []
    seen: set[str] = set()
    for spec in specs:
        path = instances_file(spec)
        for task in load_tasks(path, on_error=on_error):
            if task.instance_id in seen:
                on_error(RecordError(str(path), f"instance {task.instance_id}: duplicate instance_id across inputs"))
                continue
            seen.add(task.instance_id)
            tasks.append(task)
        inputs.append({"spec": spec, "sha256": _digest(path)})
    return tasks, inputs


def _done(path: Path) -> dict[str, dict]:
    """Rows a split file already holds, by instance id. A line a kill tore is dropped from the
    file (rewritten atomically), so what a trainer loads parses line by line."""
    if not path.exists():
        return {}
    torn: list[RecordError] = []
    done = {r["instance_id"]: r for r in iter_jsonl(path, skip_bad=True, on_error=torn.append)
            if isinstance(r.get("instance_id"), str)}
    if torn:
        write_jsonl(path, done.values())
    return done


def make_row(task: Task, cfg: RepairDatasetConfig, *, backend: str) -> tuple[dict, str | None]:
    """One instance's row (portable instance, package, target digests) and the local path it
    still needs, if any. Raises when the repository cannot be had."""
    with tempfile.TemporaryDirectory(prefix="patchloop-repair-dataset-") as tmp:
        repo = checkout_task_repo(task, Path(tmp) / "repo")
        files = source_files(repo)
        refuse_added_definitions(task, repo, files)
    row = row_from_files(task, files, focus_tokens=cfg.focus_tokens, test_output=cfg.test_output,
                         backend=backend, timeout=cfg.timeout_s)
    instance, local = portable_instance(task)
    row["instance"] = json.dumps(instance, sort_keys=True, separators=(",", ":"))  # rows are committed: compact
    row["package"] = package(task)
    row["target_digests"] = target_digests(files, row["targets"])
    return row, local


def refuse_added_definitions(task: Task, repo: Path, files: dict[str, str]) -> None:
    """A fix that adds a function or method (a bug that removed one) cannot be one rewritten
    function: such an instance stays a multi-turn task and is no repair row (ValueError, counted
    with the other bad instances)."""
    if not task.patch.strip():
        return
    from patchloop.evals.repair import python_definitions
    from patchloop.evals.repos import git

    git(repo, "apply", "-", stdin=task.patch)
    for path in sorted({line[6:] for line in task.patch.splitlines() if line.startswith("+++ b/") and
                        line.endswith(".py")}):
        fixed = (repo / path).read_text(errors="replace") if (repo / path).exists() else ""
        before = {d.qualname for d in python_definitions(path, files.get(path, ""))}
        added = sorted({d.qualname for d in python_definitions(path, fixed)} - before)
        if added:
            raise ValueError(f"the fix adds {path}::{added[0]}: one rewritten function cannot make it")


def _make_rows(tasks: list[Task], plan: dict[str, str], cfg: RepairDatasetConfig, out: Path, *,
               backend: str, echo: Echo, errors: list[str]) -> tuple[dict[str, dict[str, dict]], dict]:
    """Rows of every split, written as they come (held-out first); already written ones skipped."""
    done = {s: _done(out / f"{s}.jsonl") for s in SPLITS}
    heldout = {d: i for i, r in done["heldout"].items() for d in r.get("target_digests", [])}
    stats: dict = {"made": 0, "resumed": 0, "local": {}}
    for task in sorted(tasks, key=lambda t: plan[package(t)] != "heldout"):  # held-out first
        split = plan[package(task)]
        if task.instance_id in done[split]:
            stats["resumed"] += 1
            continue
        try:
            row, local = make_row(task, cfg, backend=backend)
        except Exception as e:  # noqa: BLE001 -- per-instance boundary: reported, counted, the batch goes on
            errors.append(str(RecordError(f"instance {task.instance_id}", f"{type(e).__name__}: {e}")))
            echo(f"skipped: {errors[-1]}")
            continue
        check_sources(row, split, heldout)  # before the write: a leaking row never reaches a file
        append_jsonl(out / f"{split}.jsonl", row)
        done[split][task.instance_id] = row
        heldout |= {d: task.instance_id for d in row["target_digests"]} if split == "heldout" else {}
        stats["made"] += 1
        if local:
            stats["local"][task.instance_id] = local
    return done, stats


def make_repair_dataset(cfg: RepairDatasetConfig, instances: list[str], out: str | Path, *,
                        backend: str = "auto", command: str = "", echo: Echo = print) -> dict:
    """Load, split by package, check, write rows, card and fingerprint; returns the fingerprint.
    Raises ``SettingsMismatch`` (other settings or inputs in ``out``), ``HeldoutLeak`` (a held-out
    package in training: nothing leaking is written) or ``ValueError`` (a held-out name matches
    no package)."""
    out = Path(out)
    errors: list[str] = []

    def bad(err: RecordError) -> None:
        errors.append(str(err))
        echo(f"skipped: {err}")

    tasks, inputs = load_instances(instances, bad)
    plan = plan_splits(tasks, cfg.heldout_packages, cfg.validation_fraction, cfg.seed)
    names = check_names(plan)
    settings = {**cfg.settings(), "inputs": [i["sha256"] for i in inputs]}
    fingerprint = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    out.mkdir(parents=True, exist_ok=True)
    guard_settings(out / "fingerprint.json", settings, retry="use another --out, or the same settings to resume it")
    done, stats = _make_rows(tasks, plan, cfg, out, backend=backend, echo=echo, errors=errors)
    heldout = {d: i for i, r in done["heldout"].items() for d in r.get("target_digests", [])}
    check_written({s: done[s].values() for s in SPLITS})
    for split in TRAINING:  # rows from an earlier run too: a file edited since is caught
        for row in done[split].values():
            check_sources(row, split, heldout)
    builtin = {package(t) for t in load_tasks(BUILTIN, on_error=lambda _e: None)}
    held = sorted(p for p, s in plan.items() if s == "heldout")
    checks = {**names, "by_source": {"heldout_functions": len(heldout), "in_training": 0},
              "named_by_project": {p: w for p, w in project_mentions(held, builtin).items() if w},
              "humaneval": humaneval_overlap([r for rows in done.values() for r in rows.values()])}
    counts = {s: dict(sorted(Counter(r.get("package", "?") for r in done[s].values()).items())) for s in SPLITS}
    record = {**settings, "fingerprint": fingerprint, "inputs_named": inputs, "plan": plan, "counts": counts,
              "bad_instances": errors, "made": stats["made"], "resumed": stats["resumed"],
              "local_paths": _local_paths(done, stats["local"]), "checks": checks, "command": command}
    write_json(out / "fingerprint.json", record)
    write_card(out / "card.md", record)
    for line in describe(record, out):
        echo(line)
    return record


def _local_paths(done: dict[str, dict[str, dict]], made: dict[str, str]) -> dict[str, str]:
    """Instance -> the path on a machine its row needs, for every row written (resumed ones read
    back from their instance)."""
    out = {}
    for rows in done.values():
        for iid, row in rows.items():
            if iid in made:
                out[iid] = made[iid]
                continue
            inst = json.loads(row.get("instance") or "{}")
            for key in ("repo_path", "repo_archive"):
                if inst.get(key):
                    where = "on this machine" if Path(inst[key]).is_absolute() else "in the project"
                    out[iid] = f"{key} {where}: {inst[key]}"
                    break
    return out


def describe(record: dict, out: Path) -> list[str]:
    """The terminal's summary: rows per split, what was skipped, and the decontamination check."""
    counts = ", ".join(f"{s} {sum(c.values())} ({', '.join(c) or 'no packages'})" for s, c in record["counts"].items())
    he, src = record["checks"]["humaneval"], record["checks"]["by_source"]
    named = "; ".join(f"{p} in {', '.join(w)}" for p, w in record["checks"].get("named_by_project", {}).items())
    return [f"wrote {counts} to {out} (fingerprint {record['fingerprint']}; {record['made']} made, "
            f"{record['resumed']} resumed, {len(record['bad_instances'])} bad instances)",
            f"decontamination: held-out {', '.join(record['checks']['heldout']) or 'none'}; by name clean; "
            f"by source {src['heldout_functions']} held-out functions, {src['in_training']} in train/validation; "
            f"HumanEval: {he['contaminated']} of {he['rows']} rows contaminated, {he['touching']} share an n-gram; "
            f"held-out packages the project names: {named or 'none'}"]


__all__ = ["HeldoutLeak", "RepairDatasetConfig", "make_repair_dataset"]
