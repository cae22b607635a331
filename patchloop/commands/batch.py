"""`patchloop batch`: argument parsing only; the work is in ``patchloop.agent.batch``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from patchloop.commands import PROFILE_HELP, ActionMode, Backend, agent_options


class Executor(str, Enum):
    local = "local"
    ray = "ray"


def batch(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="SWE-bench instances: JSON, JSONL, parquet, a saved HF dataset, or 'builtin'.")],
    model: Annotated[str, typer.Option("--model", help="openai:NAME (with --base-url) or hf:PATH[+ADAPTER].")],
    out: Annotated[Path, typer.Option("--out", help="Run directory: predictions.jsonl, trajectories/, summary.json.")],
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint for openai: models.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Instances run at the same time.")] = 1,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Model calls allowed per instance.")] = 30,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Token budget per instance.")] = 400_000,
    max_wall: Annotated[float, typer.Option("--max-wall", help="Wall-clock budget per instance, seconds.")] = 1800.0,
    context_tokens: Annotated[int | None, typer.Option("--context", help="The model's context window in tokens (default: what the backend reports, else 32000).")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Longest model reply in tokens.")] = 1024,
    repo_map_tokens: Annotated[int, typer.Option("--repo-map-tokens", help="Token budget of the repository outline in the first message.")] = 1500,
    action_mode: Annotated[ActionMode, typer.Option("--action-mode", help="tools: the model calls tools; text: one ```bash command per reply (for models whose tool calling is weak).")] = ActionMode.tools,
    demos: Annotated[bool, typer.Option("--demos/--no-demos", help="Add the prompt version's worked example to the system prompt.")] = False,
    executor: Annotated[Executor, typer.Option("--executor", help="local threads, or Ray tasks (a local Ray unless --ray-address).")] = Executor.local,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="A Ray cluster to scale out to.")] = None,
    instances: Annotated[str | None, typer.Option("--instances", help="Comma-separated instance ids to run (default: all).")] = None,
    backend: Annotated[Backend, typer.Option("--backend", help="Sandbox backend.")] = Backend.auto,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, help="Sampling temperature of every model call; 0: greedy (default: the backend's, 0.7 for hf:).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed of every model call, for reproducible sampled runs (hf:, and servers that honour it).")] = None,
    agent_profile: Annotated[str | None, typer.Option("--agent-profile", help=PROFILE_HELP)] = None,
) -> None:
    """Run the agent on every instance of a dataset; writes SWE-bench predictions, trajectories and a summary (resumable)."""
    from rich.console import Console

    from patchloop.agent.batch import finished_count, run_batch, select_tasks
    from patchloop.agent.batch_outputs import RunMismatch, check_run
    from patchloop.agent.console import batch_progress, batch_summary
    from patchloop.agent.profiles import ProfileError, agent_config
    from patchloop.llm import LLMError, parse_model_spec

    console = Console(stderr=True, soft_wrap=True)  # piped: one line per row, paths never split
    unreadable: list = []

    def on_unreadable(e: Exception) -> None:  # counted in the summary and the exit status
        unreadable.append(e)
        console.print(f"[red]unreadable: {e}[/]", highlight=False)

    try:
        parse_model_spec(model)
        tasks = select_tasks(dataset, instances, on_error=on_unreadable)
    except (LLMError, FileNotFoundError, ValueError) as e:
        raise _usage_error(e) from None
    try:
        cfg = agent_config(*agent_options(ctx), agent_profile)  # the agent options above, read through ctx
    except ProfileError as e:
        raise _usage_error(e) from None
    sampling = {k: v for k, v in {"temperature": temperature, "seed": seed}.items() if v is not None}
    progress, on_result = batch_progress(console, len(tasks), finished_count(tasks, out))
    try:
        check_run(out, model, cfg.model_dump(), sampling)
    except RunMismatch as e:
        raise _usage_error(e) from None
    with progress:
        summary = run_batch(tasks, out, model_spec=model, base_url=base_url, cfg=cfg, workers=workers,
                            executor=executor.value, backend=backend.value, on_result=on_result,
                            ray_address=ray_address, sampling=sampling)
    console.print(batch_summary(summary, len(unreadable), out / "predictions.jsonl"), highlight=False)
    raise typer.Exit(1 if summary["errors"] or unreadable else 0)


def _usage_error(e: Exception) -> typer.Exit:
    """One line naming the cause, and exit status 2: the run did not start."""
    typer.echo(f"patchloop batch: {e}", err=True)
    return typer.Exit(2)
