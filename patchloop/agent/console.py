"""Rich terminal output for `fix` and `batch`: streamed steps, approvals, the final diff."""

from __future__ import annotations

import json

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.prompt import Prompt
from rich.spinner import Spinner
from rich.syntax import Syntax
from rich.text import Text

from patchloop.types import Trajectory


def _short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StepPrinter:
    """``on_event`` for ``run_episode``: one line per tool call and a short result, and a
    spinner while the model is thinking (a CPU model can take half a minute a step)."""

    def __init__(self, console: Console, thread: str = ""):
        self.console = console
        self.thread = thread
        self._status = None
        self.steps = 0  # model replies shown: 0 means the run never got going

    def waiting(self, text: str = "the model is thinking") -> None:
        self.stop()
        if self.console.is_terminal:
            self._spinner = Spinner("dots", text=Text(f"{text}…", style="dim"))
            self._status = Live(self._spinner, console=self.console, transient=True, refresh_per_second=12.5)
            self._status.start(refresh=True)

    def live(self, text: str) -> None:
        """New text for the spinner that is up (a reply's live token count), drawn at once; none up: nothing."""
        if self._status is not None:
            self._spinner.update(text=Text(f"{text}…", style="dim"))
            self._status.refresh()

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    SHOWN = ("model", "tools", "window", "resume", "finish")

    def __call__(self, node: str, values: dict) -> None:
        if node not in self.SHOWN:  # a node with nothing to show (the guard) leaves the spinner up
            return
        self.stop()
        if node in ("model", "resume"):
            self.steps += 1
        if node == "model":
            for msg in values.get("messages", []):
                if isinstance(msg.content, str) and msg.content.strip():
                    self.console.print(f"[italic dim]{escape(_short(msg.content, 200))}[/]")
                for c in msg.tool_calls:
                    args = ", ".join(f"{k}={_short(v, 60)}" for k, v in c["args"].items())
                    self.console.print(f"[bold cyan]→ {c['name']}[/]({escape(args)})")
                for c in msg.invalid_tool_calls:
                    self.console.print(f"[bold red]→ malformed call[/] {escape(_short(c.get('args') or '', 100))}")
        elif node == "tools":
            for msg in values.get("messages", []):
                first = (msg.content if isinstance(msg.content, str) else str(msg.content)).strip().splitlines()
                style = "red" if first and first[0].startswith("error") else "dim"
                self.console.print(f"  [{style}]{escape(_short(first[0] if first else '(no output)', 120))}[/]")
            self.waiting()
        elif node == "window":
            self.console.print(f"[dim]{escape(values['window'])}[/]", highlight=False)
            self.waiting("reading the repository, then the model is thinking")
        elif node == "resume":
            where = f"after step {values.get('steps', 0)}"
            restored = "; the workspace was restored from the checkpoint" if values.get("restored") else ""
            self.console.print(f"[bold]resumed {escape(self.thread)} {where}[/]{restored}")
            self.waiting()
        elif node == "finish":
            self.console.print(f"[bold]finished:[/] {values.get('exit_reason', '')}")


def approval_view(req: dict):
    """What the user approves: an edit as the diff it makes, a command as shell, the rest as JSON."""
    args, tool = req.get("args") or {}, req.get("tool")
    if tool == "edit" and isinstance(args.get("old"), str) and isinstance(args.get("new"), str):
        import difflib

        path = str(args.get("path", "?"))
        diff = difflib.unified_diff(args["old"].splitlines(), args["new"].splitlines(), f"a/{path}", f"b/{path}", lineterm="")
        return Syntax("\n".join(diff), "diff", word_wrap=True)
    if tool == "create" and isinstance(args.get("content"), str):
        body = "\n".join(f"+{line}" for line in args["content"].splitlines())
        return Syntax(f"--- /dev/null\n+++ b/{args.get('path', '?')}\n{body}", "diff", word_wrap=True)
    if tool == "run" and isinstance(args.get("command"), str):
        return Syntax(args["command"], "bash", word_wrap=True)
    return Syntax(json.dumps(args, indent=2), "json", word_wrap=True)


def ask_approval(console: Console, printer: StepPrinter | None = None):
    """``approve`` for ``run_episode`` in ask mode: y, n, or a note sent back to the model."""

    def approve(req: dict) -> bool | str:
        if printer is not None:
            printer.stop()
        console.print(Panel(approval_view(req), title=f"approve {escape(str(req['tool']))}?", border_style="yellow"))
        # \\[ keeps rich from reading [y] and [n] as markup tags (it printed "es / o").
        answer = Prompt.ask("\\[y]es / \\[n]o / or type a note for the model", console=console, default="y")
        low = answer.strip().lower()
        if printer is not None:
            printer.waiting("running")
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


def batch_summary(summary: dict, unreadable: int, predictions) -> str:
    """The last line of a batch: unreadable dataset rows count in the total (they were not
    run), and instances finished by an earlier run are named as such, never as "skipped"."""
    total = summary["total"] + unreadable
    parts = [f"done {summary['done']}/{total}", f"errors {summary['errors']}"]
    if unreadable:
        parts.append(f"unreadable {unreadable} (not run)")
    if summary.get("skipped"):
        parts.append(f"{summary['skipped']} of them done by an earlier run")
    return f"{', '.join(parts)}; predictions in {predictions}"
