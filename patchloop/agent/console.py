"""Rich terminal output for `fix` and `batch`: streamed steps, approvals, the final diff."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.prompt import Prompt
from rich.syntax import Syntax

from patchloop.types import Trajectory


def _short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StepPrinter:
    """``on_event`` for ``run_episode``: one line per tool call and a short result."""

    def __init__(self, console: Console):
        self.console = console

    def __call__(self, node: str, values: dict) -> None:
        if node == "model":
            for msg in values.get("messages", []):
                if isinstance(msg.content, str) and msg.content.strip():
                    self.console.print(f"[italic dim]{_short(msg.content, 200)}[/]")
                for c in msg.tool_calls:
                    args = ", ".join(f"{k}={_short(v, 60)}" for k, v in c["args"].items())
                    self.console.print(f"[bold cyan]→ {c['name']}[/]({args})")
                for c in msg.invalid_tool_calls:
                    self.console.print(f"[bold red]→ malformed call[/] {_short(c.get('args') or '', 100)}")
        elif node == "tools":
            for msg in values.get("messages", []):
                first = (msg.content if isinstance(msg.content, str) else str(msg.content)).strip().splitlines()
                style = "red" if first and first[0].startswith("error") else "dim"
                self.console.print(f"  [{style}]{_short(first[0] if first else '(no output)', 120)}[/]")
        elif node == "window":
            self.console.print(f"[dim]{escape(values['window'])}[/]", highlight=False)
        elif node == "finish":
            self.console.print(f"[bold]finished:[/] {values.get('exit_reason', '')}")


def ask_approval(console: Console):
    """``approve`` for ``run_episode`` in ask mode: y, n, or a note sent back to the model."""

    def approve(req: dict) -> bool | str:
        console.print(Panel(Syntax(json.dumps(req["args"], indent=2), "json", word_wrap=True),
                            title=f"approve {req['tool']}?", border_style="yellow"))
        answer = Prompt.ask("[y]es / [n]o / or type a note for the model", console=console, default="y")
        low = answer.strip().lower()
        return True if low in ("y", "yes") else False if low in ("n", "no") else answer
    return approve


def show_result(console: Console, traj: Trajectory) -> None:
    """The tests the agent ran, the totals, and the diff with syntax highlighting."""
    for step in traj.steps:
        for call, obs in zip(step.tool_calls, step.observations):
            if call.get("name") == "run_tests":
                console.print(f"[bold]tests:[/] {obs.splitlines()[0] if obs else ''}")
    console.print(f"[bold]{len(traj.steps)} steps[/], {traj.prompt_tokens + traj.completion_tokens} tokens, "
                  f"{traj.wall_s:.1f}s, exit: {traj.exit_reason}")
    if traj.model_patch.strip():
        console.print(Panel(Syntax(traj.model_patch, "diff", word_wrap=True), title="diff"))
    else:
        console.print("[yellow]no changes[/]")


def batch_progress(console: Console, total: int, already: int) -> tuple[Progress, callable]:
    """A progress bar with done / errors / total, and the ``on_result`` callback feeding it."""
    progress = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("done {task.fields[done]}  errors {task.fields[errors]}"),
                        TimeElapsedColumn(), console=console)
    bar = progress.add_task("batch", total=total, completed=already, done=already, errors=0)

    def on_result(row: dict, counts: dict) -> None:
        progress.update(bar, completed=counts["done"] + counts["errors"], done=counts["done"], errors=counts["errors"])
        if row["status"] == "error":
            progress.console.print(f"[red]error {row['instance_id']}: {row['error']}[/]")
        else:
            progress.console.print(f"done {row['instance_id']}: {row['exit_reason']}, {row['steps']} steps, "
                                   f"{row['wall_s']:.1f}s")
    return progress, on_result
