"""``patchloop datagen`` teacher stages and cleaning. Argument parsing only: the work is in
``patchloop.datagen.instruct`` and ``patchloop.datagen.filters``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from patchloop.commands import Backend

Model = Annotated[str, typer.Option("--model", help="Teacher: openai:NAME (with --base-url) or hf:DIR.")]
BaseUrl = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint for openai: teachers.")]
Temp = Annotated[float, typer.Option("--temperature", help="Teacher sampling temperature.")]
TopP = Annotated[float, typer.Option("--top-p", help="Teacher nucleus sampling mass.")]
MaxTok = Annotated[int, typer.Option("--max-tokens", help="Longest teacher reply in tokens.")]
Seed = Annotated[int, typer.Option("--seed", help="Run seed: what is drawn and every sampling seed derive from it.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Stage output directory (tasks.jsonl, log.jsonl, stats.json, fingerprint.json).")]
BackendOpt = Annotated[Backend, typer.Option("--backend", help="Sandbox for verification.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds per task when verifying.")]
Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar (--no-progress for logs and CI).")]
Workers = Annotated[int, typer.Option("--workers", min=1, help="Teacher requests in flight at once (a batching "
                                      "server such as patchloop serve decodes them together); same seeds and fingerprint.")]


def _warn(line: str) -> None:
    typer.echo(line, err=True)


def _report(stats: dict) -> None:
    y = stats["yield"]
    typer.echo(f"{stats['stage']}: {stats['items']} items; generated {y['generated']}, parsed {y['parsed']}, "
               f"executed {y['executed']}, passed {y['passed']}, kept {y['kept']} (fingerprint {stats['fingerprint']})")
    if stats.get("drops"):
        typer.echo("drops: " + ", ".join(f"{k} {v}" for k, v in stats["drops"].items()))
    t = stats.get("teacher") or {}
    if t.get("tokens"):
        typer.echo(f"teacher: {t['tokens']} tokens in {t['seconds']} s ({t['tokens_per_s']} tok/s)")


def _run(work: Callable[[], dict | None]) -> None:
    """Run a stage; a refused or failed stage is one line and exit code 1."""
    from patchloop.datagen.instruct.stage import StageError
    from patchloop.llm import LLMError
    from patchloop.types import RecordError

    try:
        stats = work()
    except (StageError, LLMError, RecordError, ValueError, FileNotFoundError) as e:
        typer.echo(f"patchloop datagen: {e}", err=True)
        raise typer.Exit(1) from None
    if stats is not None:
        _report(stats)


def _teacher_stage(run, inputs: Path, out: Path, cfg, model, base_url, temperature, top_p, max_tokens,
                   backend: Backend | None = None, timeout: float = 5.0, progress: bool = True) -> None:
    from patchloop.datagen.instruct import open_grader, open_teacher

    def work() -> dict:
        teacher = open_teacher(model, base_url=base_url, temperature=temperature, top_p=top_p, max_tokens=max_tokens)
        if backend is None:
            return run(inputs, out, cfg, teacher, progress=progress, warn=_warn)
        grader = open_grader(backend.value, timeout)
        try:
            return run(inputs, out, cfg, teacher, grader, progress=progress, warn=_warn)
        finally:
            grader.close()
    _run(work)


def register(app: typer.Typer) -> None:
    """Add the teacher stages and the cleaning commands to ``patchloop datagen``."""
    app.command("seeds-pypi")(seeds_pypi)
    app.command("seed-functions")(seed_functions)
    app.command("self-instruct")(self_instruct)
    app.command("evol-instruct")(evol_instruct)
    app.command("oss-instruct")(oss_instruct)
    align = typer.Typer(help="SelfCodeAlign: seed functions -> concepts -> instructions -> verified responses.",
                        no_args_is_help=True)
    align.command("concepts")(align_concepts)
    align.command("instruct")(align_instruct)
    align.command("respond")(align_respond)
    app.add_typer(align, name="self-align")
    app.command("clean")(clean)
    app.command("check-humaneval")(check_humaneval)


def seeds_pypi(
    packages: Annotated[str, typer.Option("--packages", help="Comma-separated requirements (NAME or NAME==VERSION).")],
    out: Out,
    pip_arg: Annotated[list[str] | None, typer.Option("--pip-arg", help="Extra pip argument (repeat), e.g. --pip-arg=--no-index.")] = None,
    max_files: Annotated[int, typer.Option("--max-files", help="Python files read per package at most.")] = 200,
    progress: Progress = True,
) -> None:
    """Seed code for OSS-Instruct: pip-downloaded wheels/sdists, permissive licences only, PII replaced."""
    from patchloop.datagen.instruct.pypi import PypiSeedsConfig, run_pypi_seeds

    cfg = PypiSeedsConfig(packages=[p.strip() for p in packages.split(",") if p.strip()], pip_args=pip_arg or [],
                          max_files=max_files)
    _run(lambda: run_pypi_seeds(out, cfg, progress=progress, warn=_warn))


def seed_functions(
    seeds: Annotated[Path, typer.Option("--seeds", help="Seed files (seeds-pypi's tasks.jsonl).")],
    out: Out,
    min_lines: Annotated[int, typer.Option("--min-lines", help="Shortest function kept, in lines.")] = 3,
    max_lines: Annotated[int, typer.Option("--max-lines", help="Longest function kept, in lines.")] = 60,
    progress: Progress = True,
) -> None:
    """SelfCodeAlign seeds: documented top-level functions, extracted with tree-sitter."""
    from patchloop.datagen.instruct.seed_functions import SeedFunctionsConfig, run_seed_functions

    cfg = SeedFunctionsConfig(min_lines=min_lines, max_lines=max_lines)
    _run(lambda: run_seed_functions(seeds, out, cfg, progress=progress))


def self_instruct(
    seeds: Annotated[Path, typer.Option("--seeds", help="Seed tasks (HumanEval-style JSONL).")], out: Out, model: Model,
    base_url: BaseUrl = None, n: Annotated[int, typer.Option("--n", min=1, help="Teacher prompts (slots).")] = 100,
    examples: Annotated[int, typer.Option("--examples", min=1, help="Seed tasks shown per prompt.")] = 3,
    similarity: Annotated[float, typer.Option("--similarity", help="MinHash Jaccard that makes a task too similar.")] = 0.7,
    seed: Seed = 0, temperature: Temp = 0.7, top_p: TopP = 0.95, max_tokens: MaxTok = 1024,
    backend: BackendOpt = Backend.auto, timeout: Timeout = 5.0, progress: Progress = True,
) -> None:
    """Self-Instruct: new tasks from seed tasks, novel by MinHash, verified in a sandbox."""
    from patchloop.datagen.instruct.self_instruct import SelfInstructConfig, run_self_instruct

    cfg = SelfInstructConfig(n=n, examples=examples, similarity=similarity, seed=seed, timeout_s=timeout)
    _teacher_stage(run_self_instruct, seeds, out, cfg, model, base_url, temperature, top_p, max_tokens,
                   backend, timeout, progress)


def evol_instruct(
    input: Annotated[Path, typer.Option("--input", help="Verified tasks to evolve (a stage's tasks.jsonl).")], out: Out,
    model: Model, base_url: BaseUrl = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Evolution rounds per task.")] = 3,
    operations: Annotated[str, typer.Option("--operations", help="Comma-separated subset of: constraint,rarer,"
                                            "reasoning,misdirection,complexity.")] = "",
    seed: Seed = 0, temperature: Temp = 0.7, top_p: TopP = 0.95, max_tokens: MaxTok = 1024,
    backend: BackendOpt = Backend.auto, timeout: Timeout = 5.0, progress: Progress = True, workers: Workers = 1,
) -> None:
    """Evol-Instruct for code: one WizardCoder operation a round; an evolution that fails is dropped."""
    from patchloop.datagen.instruct.evol import OPERATIONS, EvolConfig, run_evol

    ops = [o.strip() for o in operations.split(",") if o.strip()] or list(OPERATIONS)
    cfg = EvolConfig(rounds=rounds, operations=ops, seed=seed, timeout_s=timeout, workers=workers)
    _teacher_stage(run_evol, input, out, cfg, model, base_url, temperature, top_p, max_tokens, backend, timeout,
                   progress)


def oss_instruct(
    seeds: Annotated[Path, typer.Option("--seeds", help="Seed files (seeds-pypi's tasks.jsonl).")], out: Out,
    model: Model, base_url: BaseUrl = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Snippets (slots), one teacher prompt each.")] = 100,
    seed: Seed = 0, temperature: Temp = 0.7, top_p: TopP = 0.95, max_tokens: MaxTok = 1024,
    backend: BackendOpt = Backend.auto, timeout: Timeout = 5.0, progress: Progress = True, workers: Workers = 1,
) -> None:
    """OSS-Instruct: 1-15 lines of real code inspire a task; kept when its solution passes its tests."""
    from patchloop.datagen.instruct.oss_instruct import OssInstructConfig, run_oss_instruct

    cfg = OssInstructConfig(n=n, seed=seed, timeout_s=timeout, workers=workers)
    _teacher_stage(run_oss_instruct, seeds, out, cfg, model, base_url, temperature, top_p, max_tokens, backend,
                   timeout, progress)


def _align_cfg(samples: int, seed: int, timeout: float, workers: int):
    from patchloop.datagen.instruct.self_align import SelfAlignConfig

    return SelfAlignConfig(samples=samples, seed=seed, timeout_s=timeout, workers=workers)


def _align_text_step(runner: str, input_help: str, max_tokens_default: int, doc: str) -> Callable[..., None]:
    """The concepts and instruct steps: teacher text only, no sandbox; alike but for their input,
    their reply length and the stage they run."""

    def command(
        input: Path = typer.Option(..., "--input", help=input_help), out: Out = ..., model: Model = ...,
        base_url: BaseUrl = None, seed: Seed = 0, temperature: Temp = 0.7, top_p: TopP = 0.95,
        max_tokens: MaxTok = max_tokens_default, progress: Progress = True, workers: Workers = 1,
    ) -> None:
        from patchloop.datagen.instruct import self_align

        _teacher_stage(getattr(self_align, runner), input, out, _align_cfg(1, seed, 5.0, workers), model, base_url,
                       temperature, top_p, max_tokens, progress=progress)

    command.__doc__ = doc
    return command


align_concepts = _align_text_step("run_concepts", "Seed functions (seed-functions' tasks.jsonl).", 256,
                                  "Concepts each seed function uses.")
align_instruct = _align_text_step("run_instructions", "Concepts (self-align concepts' tasks.jsonl).", 512,
                                  "A new task instruction from each set of concepts.")


def align_respond(
    input: Annotated[Path, typer.Option("--input", help="Instructions (self-align instruct's tasks.jsonl).")],
    out: Out, model: Model, base_url: BaseUrl = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Responses per instruction.")] = 3,
    seed: Seed = 0, temperature: Temp = 0.7, top_p: TopP = 0.95, max_tokens: MaxTok = 1024,
    backend: BackendOpt = Backend.auto, timeout: Timeout = 5.0, progress: Progress = True, workers: Workers = 1,
) -> None:
    """Several responses with their own tests; one that passes them is kept per instruction."""
    from patchloop.datagen.instruct.self_align import run_responses

    _teacher_stage(run_responses, input, out, _align_cfg(samples, seed, timeout, workers), model, base_url, temperature,
                   top_p, max_tokens, backend, timeout, progress)


def clean(
    inputs: Annotated[list[Path], typer.Argument(help="Task files (stages' tasks.jsonl) to merge and clean.")],
    out: Out,
    name: Annotated[str, typer.Option("--name", help="Dataset name on the data card.")] = "dataset",
    swe: Annotated[list[Path] | None, typer.Option("--swe", help="SWE-style instances to decontaminate against (repeat).")] = None,
    heldout: Annotated[list[Path] | None, typer.Option("--heldout", help="Held-out task split to decontaminate against (repeat).")] = None,
    humaneval: Annotated[bool, typer.Option("--humaneval/--no-humaneval", help="Decontaminate against HumanEval (training refuses data cleaned without it).")] = True,
    builtin_swe: Annotated[bool, typer.Option("--builtin-swe/--no-builtin-swe", help="Decontaminate against the SWE-style instances in examples/swe.")] = True,
    backend: BackendOpt = Backend.auto, timeout: Timeout = 5.0,
) -> None:
    """PII/secrets replaced (re-verified), dedup, decontamination; writes tasks, removals and a data card."""
    from patchloop.datagen.filters.clean import run_clean
    from patchloop.datagen.instruct import open_grader

    def work() -> dict:
        grader = open_grader(backend.value, timeout)
        try:
            card = run_clean(inputs, out, grader=grader, name=name, swe=swe or [], heldout=heldout or [], use_humaneval=humaneval,
                             builtin_swe=builtin_swe)
        finally:
            grader.close()
        c = card["cleaning"]
        dec = c["decontamination"]
        typer.echo(f"kept {card['tasks']} tasks in {out}; dedup removed {c['dedup']['exact']} exact + "
                   f"{c['dedup']['near']} near; decontamination removed {dec['removed']} ({', '.join(dec['benchmarks'])}); "
                   f"PII {c['pii'] or 'none'}; data card {out / 'card.md'}")
        return None
    _run(work)


def check_humaneval(
    path: Annotated[Path, typer.Argument(help="A task file, or a directory holding tasks.jsonl.")],
) -> None:
    """How many tasks of a training set touch HumanEval (exit 1 when any is contaminated)."""
    from patchloop.datagen.filters.guard import NotDecontaminated
    from patchloop.datagen.filters.guard import check_humaneval as check

    try:
        fig = check(path, echo=typer.echo)
    except NotDecontaminated as e:
        typer.echo(f"patchloop datagen: {e}", err=True)
        raise typer.Exit(2) from None
    for item in fig["items"][:20]:
        typer.echo(f"  {item['id']}: {item['reason']} of {item['item']} ({item['score']})")
    raise typer.Exit(1 if fig["contaminated"] else 0)
