"""``datagen repos`` end to end: prepare each repository, run its suite, generate and validate
candidates, write instances and by-repository splits. Resumable and refusing mixed settings.

Layout of ``OUT``::

    fingerprint.json            settings + their hash (a rerun with other settings is refused)
    repos/<slug>/               source git repository: base commit + one root commit per bug
    work/<slug>/suite.json      the one full-suite run (statuses, coverage)
    work/<slug>/outcomes.jsonl  one line per candidate tried: kept or why not, wall time
    instances.jsonl             every validated instance (``repo_path`` relative to OUT)
    skips.jsonl                 repositories that cannot give tasks, with the reason
    train.jsonl / eval.jsonl    split by repository: no repository is in both
    stats.json                  per-mutation tried/kept, drop reasons, validation times
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from patchloop.datagen.repos.candidates import Candidate, generate
from patchloop.datagen.repos.combine import MUTATION as COMBINED
from patchloop.datagen.repos.combine import combinations, validate_combined
from patchloop.datagen.repos.issues import TeacherWriter, TemplateWriter
from patchloop.datagen.repos.source import RepoSource, SourceError, prepare_source
from patchloop.datagen.repos.suite import MIN_PASS_RATE, SuiteRun, run_suite
from patchloop.datagen.repos.teacher_bugs import teacher_candidates
from patchloop.datagen.repos.validate import Outcome, validate_candidate
from patchloop.evals.repos import RepoError
from patchloop.evals.settings_guard import differences, mismatch
from patchloop.sandbox import SandboxError
from patchloop.types import Task, append_jsonl, end_torn_line, iter_jsonl, write_json, write_jsonl

GENERATOR_VERSION = 1


class ReposConfig(BaseModel):
    """Settings that decide which instances come out (all part of the fingerprint)."""

    seed: int = Field(0, description="Seed of candidate order and of every mutation's choices.")
    max_candidates: int = Field(150, description="Candidates validated per repository at most.")
    timeout_s: float = Field(120.0, description="Time limit of one test run of a candidate (harness timeout).")
    suite_timeout_s: float = Field(900.0, description="Time limit of the one full-suite run per repository.")
    min_pass_rate: float = Field(MIN_PASS_RATE, description="A repository is kept only if this share of its tests pass.")
    eval_fraction: float = Field(0.3, description="Share of instances (whole repositories) put in eval.jsonl.")
    teacher: str = Field("", description="Chat model spec (openai:NAME, hf:PATH) writing issue text; empty: template.")
    combine: int = Field(0, description="Pairs of kept bugs in one file validated per repository as harder tasks.")
    teacher_bugs: int = Field(0, description="Covered functions per repository the teacher rewrites (bug candidates).")
    teacher_mode: Literal["rewrite", "modify"] = Field(
        "rewrite", description="rewrite: the teacher writes the body from signature and docstring; modify: asked for a bug.")

    def fingerprint(self) -> str:
        # settings added later are left out at their default, so outputs made before them resume
        later = {"combine"} if not self.combine else set()
        later |= {"teacher_bugs", "teacher_mode"} if not self.teacher_bugs else set()
        settings = self.model_dump(exclude=later)
        blob = json.dumps({"v": GENERATOR_VERSION, **settings}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_fingerprint(out: Path, cfg: ReposConfig) -> None:
    """Write the settings on the first run; refuse a rerun with different ones
    (:class:`SettingsMismatch`, naming each)."""
    path = out / "fingerprint.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("hash") != cfg.fingerprint():
            new = cfg.model_dump()
            diffs = differences(old.get("config", {}), new, keys=new) or ["another generator version"]
            raise mismatch(out, diffs, "use another --out, or the same settings to resume it")
        return
    write_json(path, {"generator_version": GENERATOR_VERSION, "hash": cfg.fingerprint(), "config": cfg.model_dump()})


def teacher_model(cfg: ReposConfig):
    """The chat model behind ``cfg.teacher`` (greedy: a rerun asks and gets the same), or None."""
    if not cfg.teacher:
        return None
    from patchloop.llm import load_chat_model

    return load_chat_model(cfg.teacher, temperature=0.0, max_tokens=1024)


def _read(path: Path, cls=None) -> list:
    if not path.exists():
        return []
    end_torn_line(path)
    return list(iter_jsonl(path, cls, skip_bad=True))


def process_repo(spec: str, out: Path, cfg: ReposConfig, *, workers: int = 1, backend: str = "docker",
                 writer=None, teacher=None, on_event=print, budget: int | None = None, stop=None) -> dict:
    """One repository (``pypi:NAME==VERSION`` or ``path:DIR``): returns its counts. ``budget``
    caps the candidates validated in this call and ``stop()`` ends it early (the rest of the
    repository's candidates wait for a later call: that is how a run resumes). ``teacher``: a
    chat model (default: ``cfg.teacher``'s) that writes issue text and ``cfg.teacher_bugs`` bugs.
    Combinations (``cfg.combine``) come once every single candidate has its outcome."""
    if cfg.teacher_bugs and teacher is None and not cfg.teacher:
        raise ValueError("teacher_bugs needs a teacher model (--teacher openai:NAME or hf:PATH)")
    kind, _, value = spec.partition(":")
    try:
        src = prepare_source(out, package=value if kind == "pypi" else "", repo=value if kind == "path" else "")
    except (SourceError, RepoError) as e:
        return _skip(out, spec, f"cannot prepare: {e}", on_event)
    work = out / "work" / src.slug
    suite = _suite(src, work, cfg, backend)
    why = suite.skip_reason(cfg.min_pass_rate, cfg.timeout_s)
    if why:
        return _skip(out, spec, why, on_event)
    done = {o.id for o in _read(work / "outcomes.jsonl", Outcome)}
    if teacher is None and (cfg.teacher_bugs or writer is None):
        teacher = teacher_model(cfg)
    instances = _read(out / "instances.jsonl", Task)
    kept_singles = {t.instance_id: t for t in instances
                    if t.instance_id.startswith(f"{src.slug}.") and t.extra.get("mutation") != COMBINED}
    todo = _todo(src, work, suite, cfg, teacher, done, kept_singles, on_event)[:budget]
    on_event(f"{src.slug}: {len(suite.passing)}/{len(suite.statuses)} tests pass; "
             f"{len(todo)} candidates to validate ({len(done)} done before)")
    writer = writer or (TeacherWriter(teacher) if teacher is not None else TemplateWriter())

    def one(cand):
        if stop is not None and stop():
            return None
        try:
            if cand.parts:
                return validate_combined(cand, [kept_singles[p] for p in cand.parts], src, suite.passing, work,
                                         writer, timeout=cfg.timeout_s, backend=backend)
            return validate_candidate(cand, src, suite.passing, work, writer, timeout=cfg.timeout_s, backend=backend)
        except (SandboxError, RepoError) as e:  # counted, the batch goes on
            return Outcome(cand.id, cand.repo, cand.mutation, False, f"error: {e}"[:300]), None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        kept = _record(pool.map(one, todo), {t.instance_id for t in instances}, out, work, src, on_event)
    return {"repo": src.slug, "kept": kept, "tried": len(todo), "left": len(todo) > 0}


def _todo(src: RepoSource, work: Path, suite: SuiteRun, cfg: ReposConfig, teacher, done: set[str],
          kept: dict[str, Task], on_event) -> list[Candidate]:
    """What is left to validate: the single bugs (procedural, then the teacher's) without an
    outcome; once none is left, the combinations of the kept ones."""
    singles = _candidates(src, work, suite, cfg)
    if cfg.teacher_bugs:
        singles += teacher_candidates(src.path, src.slug, suite.covered, teacher, work, seed=cfg.seed,
                                      limit=cfg.teacher_bugs, mode=cfg.teacher_mode, on_event=on_event)
    todo = [c for c in singles if c.id not in done]
    if cfg.combine and not todo:
        todo = [c for c in _combinations(src, work, list(kept.values()), cfg) if c.id not in done]
    return todo


def _record(items, written: set[str], out: Path, work: Path, src: RepoSource, on_event) -> int:
    """Write each validated candidate as it comes: its instance (if kept and not ``written``
    already: a kill between the two appends), then its outcome."""
    kept = 0
    for item in items:
        if item is None:
            continue
        outcome, task = item
        if task is not None and task.instance_id not in written:
            task.extra["repo_path"] = str(Path("repos") / src.path.name)
            if src.origin.startswith("pypi:"):  # the portable source: the release and the patch rebuild it
                task.extra |= {"repo_sdist": src.origin.removeprefix("pypi:"), "repo_sdist_sha256": src.sdist_sha256}
            append_jsonl(out / "instances.jsonl", task)
            kept += 1
        append_jsonl(work / "outcomes.jsonl", outcome)  # after the instance: a kill re-tries it
        shutil.rmtree(work / "validate" / outcome.id, ignore_errors=True)
        on_event(f"{outcome.id}: {'kept' if outcome.kept else outcome.reason} ({outcome.wall_s:.1f}s)")
    return kept


def _combinations(src: RepoSource, work: Path, kept: list[Task], cfg: ReposConfig) -> list[Candidate]:
    """The repository's combined candidates, listed once (after its single bugs) in ``combined.jsonl``."""
    path = work / "combined.jsonl"
    if path.exists():
        return list(iter_jsonl(path, Candidate))
    cands = combinations(src.path, src.slug, kept, seed=cfg.seed, limit=cfg.combine)
    write_jsonl(path, cands)
    return cands


def _candidates(src: RepoSource, work: Path, suite: SuiteRun, cfg: ReposConfig) -> list[Candidate]:
    """The repository's candidates, generated once and kept in ``candidates.jsonl`` (written
    whole, atomically: the same seed gives the same list, so a resumed run needs no rewrite)."""
    path = work / "candidates.jsonl"
    if path.exists():
        return list(iter_jsonl(path, Candidate))
    cands = list(generate(src.path, src.slug, suite.covered, seed=cfg.seed, limit=cfg.max_candidates))
    write_jsonl(path, cands)
    return cands


def _suite(src: RepoSource, work: Path, cfg: ReposConfig, backend: str) -> SuiteRun:
    path = work / "suite.json"
    if path.exists():
        suite = SuiteRun.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if suite.slug == src.slug:
            return suite
    suite = run_suite(src, timeout=cfg.suite_timeout_s, backend=backend)
    write_json(path, suite.to_dict())
    return suite


def _skip(out: Path, spec: str, reason: str, on_event) -> dict:
    known = {(s.get("spec"), s.get("reason")) for s in _read(out / "skips.jsonl")}
    if (spec, reason) not in known:
        append_jsonl(out / "skips.jsonl", {"spec": spec, "reason": reason})
    on_event(f"skipped {spec}: {reason}")
    return {"repo": spec, "skipped": reason}


def split_by_repo(tasks: list[Task], eval_fraction: float, seed: int = 0) -> dict[str, list[Task]]:
    """Whole repositories to eval, visited in a seeded order, each taken while eval stays within
    ``eval_fraction`` of the instances; the rest to train. With two or more repositories each
    split gets at least one (the smallest goes to eval when none fits)."""
    by_repo: dict[str, list[Task]] = {}
    for t in tasks:
        by_repo.setdefault(t.repo, []).append(t)
    order = sorted(by_repo, key=lambda r: hashlib.sha256(f"{seed}:{r}".encode()).hexdigest())
    evals: list[str] = []
    size = 0
    for repo in order:
        if len(evals) + 1 < len(order) and size + len(by_repo[repo]) <= eval_fraction * len(tasks):
            evals.append(repo)
            size += len(by_repo[repo])
    if not evals and len(order) >= 2 and eval_fraction > 0:
        evals = [min(order, key=lambda r: (len(by_repo[r]), order.index(r)))]
    return {"train": [t for r in order if r not in evals for t in by_repo[r]],
            "eval": [t for r in evals for t in by_repo[r]]}


def finish(out: Path, cfg: ReposConfig) -> dict:
    """Splits and statistics from everything in ``out`` (safe to call after every run)."""
    tasks = _read(out / "instances.jsonl", Task)
    seen: dict[str, Task] = {t.instance_id: t for t in tasks}  # a re-run after a kill may repeat one
    tasks = list(seen.values())
    splits = split_by_repo(tasks, cfg.eval_fraction, cfg.seed)
    for name, rows in splits.items():
        write_jsonl(out / f"{name}.jsonl", rows)
    # one outcome per candidate (the last: a candidate re-tried after a kill is counted once)
    outcomes = list({o.id: o for p in sorted((out / "work").glob("*/outcomes.jsonl")) for o in _read(p, Outcome)}.values())
    stats = mutation_stats(outcomes)
    stats["splits"] = {k: {"instances": len(v), "repos": sorted({t.repo for t in v})} for k, v in splits.items()}
    stats["skips"] = _read(out / "skips.jsonl")
    stats["licenses"] = dict(Counter(t.extra.get("license", "") for t in tasks))
    write_json(out / "stats.json", stats)
    return stats


def mutation_stats(outcomes: list[Outcome]) -> dict:
    per: dict[str, dict] = {}
    reasons: Counter = Counter()
    times = []
    for o in outcomes:
        row = per.setdefault(o.mutation, {"tried": 0, "kept": 0})
        row["tried"] += 1
        row["kept"] += o.kept
        if o.kept:
            times.append(o.wall_s)
        else:
            reasons[o.reason.split(":")[0]] += 1
    times.sort()
    return {"tried": len(outcomes), "kept": sum(o.kept for o in outcomes), "per_mutation": per,
            "drop_reasons": dict(reasons),
            "validation_s_per_kept": {"median": times[len(times) // 2] if times else None,
                                      "mean": round(sum(times) / len(times), 2) if times else None}}
