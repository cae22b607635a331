"""``patchloop datagen``: make verified tasks. Argument parsing only."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Generate verified training and evaluation tasks.", no_args_is_help=True)


@app.command("functions")
def functions(
    n: int = typer.Option(1000, "--n", "-n", min=3, help="Total number of tasks over the sft, rl and heldout splits."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (JSONL per split, hf/, overlap.json, fingerprint.json); a rerun with other settings is refused."),
    seed: int = typer.Option(0, "--seed", "-s", help="Master seed: the same seed gives byte-identical JSONL."),
    families: str = typer.Option("", "--families", help="Comma-separated subset of: arith,dict,list,parse,string (default: all)."),
    sft_levels: str = typer.Option("1,2", "--sft-levels", help="Levels (composed steps) of the labelled SFT split; "
                                   "LEVEL:WEIGHT gives a level a relative share (default 1), e.g. 1,2,3:0.05."),
    rl_levels: str = typer.Option("1,2,3", "--rl-levels", help="Levels of the test-only RL split."),
    heldout_levels: str = typer.Option("1,2,3,4", "--heldout-levels", help="Levels of the held-out split."),
    fractions: str = typer.Option("0.5,0.3,0.2", "--fractions", help="Shares of --n for sft,rl,heldout."),
    backend: str = typer.Option("auto", "--backend", "-b", help="Sandbox for verification: docker, local or auto."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds per canonical solution when verifying."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (--no-progress for logs and CI)."),
) -> None:
    """Procedural function-level tasks (HumanEval shape), every solution verified in a sandbox."""
    from patchloop.datagen.functions import FunctionsConfig, split_settings
    from patchloop.datagen.run_functions import describe, run_functions

    if backend not in ("auto", "docker", "local"):
        raise typer.BadParameter(f"unknown backend {backend!r} (docker, local, auto)", param_hint="--backend")
    kw = {"families": [f.strip() for f in families.split(",") if f.strip()]} if families else {}
    try:
        kw |= split_settings(sft_levels, rl_levels, heldout_levels, fractions)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    cfg = FunctionsConfig(n=n, seed=seed, timeout_s=timeout, **kw)
    from patchloop.evals.settings_guard import SettingsMismatch

    try:
        fp = run_functions(cfg, out, backend=backend, progress=progress)
    except SettingsMismatch as e:  # one plain line: a rich box would wrap the path
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    for line in describe(fp, out):
        typer.echo(line)
    if not fp["overlap"]["clean"]:
        typer.echo("splits overlap: see overlap.json", err=True)
        raise typer.Exit(1)


@app.command("repos")
def repos(
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (instances.jsonl, train/eval.jsonl, repos/, stats.json)."),
    package: list[str] = typer.Option([], "--package", "-p", help="A PyPI release NAME==VERSION (its sdist); repeatable."),
    repo: list[Path] = typer.Option([], "--repo", help="A local repository directory; repeatable."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of candidate order and mutation choices."),
    max_candidates: int = typer.Option(150, "--max-candidates", min=1, help="Candidates validated per repository."),
    timeout: float = typer.Option(120.0, "--timeout", "-t", help="Seconds for one test run of a candidate."),
    suite_timeout: float = typer.Option(900.0, "--suite-timeout", help="Seconds for the one full-suite run."),
    eval_fraction: float = typer.Option(0.3, "--eval-fraction", min=0.0, max=1.0, help="Share of instances (whole repositories) in eval.jsonl."),
    teacher: str = typer.Option("", "--teacher", help="Chat model spec writing issue text (openai:NAME, hf:PATH); default: a template."),
    combine: int = typer.Option(0, "--combine", min=0, help="Pairs of kept bugs in one file to validate per repository, as harder tasks."),
    teacher_bugs: int = typer.Option(0, "--teacher-bugs", min=0, help="Covered functions per repository the --teacher rewrites, as bug candidates."),
    teacher_mode: str = typer.Option("rewrite", "--teacher-mode", help="rewrite: the teacher writes the body from signature and docstring (its slips are the bugs); modify: it is asked for a bug."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Candidates validated in parallel."),
    backend: str = typer.Option("docker", "--backend", "-b", help="docker (the environment images need it)."),
) -> None:
    """Repository tasks by bug injection: mutate covered functions, keep bugs that fail tests (validated by the harness)."""
    from patchloop.datagen.repos.pipeline import (
        ReposConfig,
        check_fingerprint,
        finish,
        process_repo,
        teacher_model,
    )
    from patchloop.llm import LLMError

    specs = [f"pypi:{p}" for p in package] + [f"path:{r}" for r in repo]
    if not specs:
        raise typer.BadParameter("give at least one --package NAME==VERSION or --repo PATH")
    from patchloop.datagen.repos.teacher_bugs import MODES

    if teacher_mode not in MODES:
        raise typer.BadParameter(f"--teacher-mode {teacher_mode!r}: choose {' or '.join(MODES)}")
    cfg = ReposConfig(seed=seed, max_candidates=max_candidates, timeout_s=timeout, suite_timeout_s=suite_timeout,
                      eval_fraction=eval_fraction, teacher=teacher, combine=combine, teacher_bugs=teacher_bugs,
                      teacher_mode=teacher_mode)
    if teacher_bugs and not teacher:
        raise typer.BadParameter("--teacher-bugs needs a --teacher model (openai:NAME or hf:PATH)")
    try:
        check_fingerprint(out, cfg)
    except ValueError as e:  # one plain line: a rich box would wrap the path
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    try:
        model = teacher_model(cfg)  # loaded once for every repository
    except LLMError as e:
        typer.echo(f"error: --teacher {teacher}: {e}", err=True)
        raise typer.Exit(2) from None
    from patchloop.evals.waiting import alive

    with alive("validating candidates (each runs the repository's tests in a sandbox)"):
        for spec in specs:
            process_repo(spec, out, cfg, workers=workers, backend=backend, teacher=model, on_event=typer.echo)
    st = finish(out, cfg)
    typer.echo(f"kept {st['kept']}/{st['tried']} candidates; splits "
               + ", ".join(f"{k} {v['instances']} ({', '.join(v['repos'])})" for k, v in st["splits"].items())
               + f"; {len(st['skips'])} repositories skipped; stats: {out / 'stats.json'}")


@app.command("repair")
def repair(
    instances: list[str] = typer.Option(..., "--instances", "-i", help="SWE-style instances: JSONL, JSON, a `datagen repos` output dir, or builtin; repeatable."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (train/validation/heldout.jsonl, card.md, fingerprint.json); a rerun with other settings is refused."),
    test_output: bool = typer.Option(False, "--test-output", help="Show the failing tests' output in each prompt (runs the tests once per instance)."),
    heldout_packages: str = typer.Option("", "--heldout-packages", help="Comma-separated packages (repo or its last part) for the heldout split."),
    validation_fraction: float = typer.Option(0.2, "--validation-fraction", min=0.0, max=1.0, help="Share of the training packages in validation."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of which training packages go to validation."),
    timeout: float = typer.Option(120.0, "--timeout", "-t", help="Seconds for the test run behind --test-output."),
    backend: str = typer.Option("auto", "--backend", "-b", help="Sandbox for --test-output: docker, local or auto."),
) -> None:
    """Single-turn repair rows from SWE-style instances, split by package, checked for held-out leaks."""
    import shlex
    import sys

    from patchloop.datagen.repos.repair_dataset import RepairDatasetConfig, make_repair_dataset

    if backend not in ("auto", "docker", "local"):
        raise typer.BadParameter(f"unknown backend {backend!r} (docker, local, auto)", param_hint="--backend")
    cfg = RepairDatasetConfig(seed=seed, heldout_packages=[h.strip() for h in heldout_packages.split(",") if h.strip()],
                              validation_fraction=validation_fraction, test_output=test_output, timeout_s=timeout)
    command = "patchloop " + shlex.join(sys.argv[1:])
    try:
        make_repair_dataset(cfg, instances, out, backend=backend, command=command, echo=typer.echo)
    except (ValueError, FileNotFoundError) as e:  # settings mismatch, held-out leak, unknown package: one line
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


def _register_teacher_stages() -> None:
    from patchloop.commands.datagen_teacher import register

    register(app)


_register_teacher_stages()
