"""`patchloop fix`: the agent on the user's own repository, at the terminal.

The agent works on a copy in a sandbox; the user's tree changes only when they approve
the final diff (or pass ``--apply``). Each run has a thread id; its checkpoint and what
started it live under ``~/.cache/patchloop/fix`` so ``--resume THREAD`` can continue it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm

from patchloop.agent.console import StepPrinter, ask_approval, show_result
from patchloop.agent.state import AgentConfig
from patchloop.types import Task, write_json


def fix_home() -> Path:
    return Path(os.environ.get("PATCHLOOP_CACHE", Path.home() / ".cache" / "patchloop")) / "fix"


def run_fix(*, repo: str | None, issue: str | None, model_spec: str | None, base_url: str | None,
            cfg: AgentConfig, apply: bool, resume: str | None, backend: str = "auto",
            console: Console | None = None, model=None) -> int:
    """Returns the process exit code: 0 when a diff was produced, 1 when not, 2 on bad input."""
    console = console or Console(soft_wrap=True)  # an error stays one line when piped
    home = fix_home()
    if resume:
        meta_path = home / "threads" / f"{resume}.json"
        if not meta_path.exists():
            console.print(f"[red]patchloop fix: no run with thread id {resume!r} under {home}[/]")
            return 2
        meta = json.loads(meta_path.read_text())
        repo, issue = repo or meta["repo"], issue or meta["issue"]
        model_spec, base_url = model_spec or meta["model"], base_url or meta.get("base_url")
        thread = resume
    else:
        thread = f"fix-{secrets.token_hex(4)}"
    missing = missing_inputs(repo, issue, model_spec or model)
    if missing:
        console.print(f"[red]patchloop fix: {escape('; '.join(missing))}[/]", highlight=False)
        return 2
    from patchloop.llm import LLMError, parse_model_spec
    from patchloop.sandbox.base import SandboxError

    try:
        if model is None:
            parse_model_spec(model_spec)
    except LLMError as e:
        console.print(f"[red]patchloop fix: {escape(str(e))}[/]", highlight=False)
        return 2
    repo = str(Path(repo).resolve())
    write_json(home / "threads" / f"{thread}.json",
               {"repo": repo, "issue": issue, "model": model_spec, "base_url": base_url})
    console.print(f"[bold]thread {thread}[/] (continue with --resume {thread}); repo {repo}")
    printer = StepPrinter(console, thread)
    try:
        if model is None:
            from patchloop.llm import load_chat_model

            printer.waiting("loading the model")  # a local checkpoint takes seconds to load on a CPU
            model = load_chat_model(model_spec, base_url=base_url, max_tokens=cfg.completion_tokens)
        traj = _episode(model, model_spec, thread, repo, issue, cfg, backend, printer, console)
    except (LLMError, SandboxError) as e:  # one line, never a traceback (the checkpoint keeps the work)
        printer.stop()
        console.print(f"[red]patchloop fix: {escape(str(e))}[/]", highlight=False)
        if resume or printer.steps:
            console.print(f"the run so far is saved: patchloop fix --resume {thread}", highlight=False)
        else:  # the model or the sandbox did not start: there is no run to continue
            console.print("nothing ran; run the same command again once the cause is fixed", highlight=False)
        return 2
    except KeyboardInterrupt:
        printer.stop()
        console.print(f"\n[yellow]stopped.[/] Continue where it stopped with: patchloop fix --resume {thread}")
        return 130
    finally:
        printer.stop()
    show_result(console, traj)
    if not traj.model_patch.strip():
        return 1
    if apply or Confirm.ask(f"Apply this diff to {repo}?", console=console, default=False):
        return _apply(console, repo, traj.model_patch)
    console.print("not applied; your working tree is unchanged")
    return 0


def missing_inputs(repo: str | None, issue: str | None, model) -> list[str]:
    """What keeps a run from starting, each named: no --repo, a --repo that is not a directory,
    no issue text, no --model."""
    out = []
    if not repo:
        out.append("needs --repo (the repository to fix)")
    elif not Path(repo).is_dir():
        out.append(f"--repo {repo}: {'not a directory' if Path(repo).exists() else 'no such directory'}")
    if not issue or not issue.strip():
        out.append("needs an issue (--issue TEXT or --issue-file FILE)")
    if not model:
        out.append("needs --model (openai:NAME with --base-url, or hf:PATH)")
    return out


def _episode(model, model_spec, thread, repo, issue, cfg, backend, printer, console):
    from patchloop.agent.live_reply import LiveReply
    from patchloop.agent.runner import open_checkpointer, run_episode
    from patchloop.agent.workspace import open_workspace

    task = Task(instance_id=thread, repo=Path(repo).name, problem_statement=issue)
    printer.waiting("opening a sandbox on a copy of the repository")  # a new Docker image builds for minutes
    with tempfile.TemporaryDirectory(prefix="patchloop-fix-") as tmp, \
            open_workspace(task, backend, repo=_as_base(repo, Path(tmp))) as (sb, python):
        return run_episode(model, sb, task, cfg.model_copy(update={"python": python}),
                           checkpointer=open_checkpointer(fix_home() / "checkpoints.sqlite"), thread_id=thread,
                           on_event=printer, approve=ask_approval(console, printer), model_name=model_spec or "",
                           callbacks=[LiveReply(printer.live)])


def _as_base(repo: str, tmp: Path) -> str:
    """The repository whose HEAD is the user's tree as it is now: the repo itself when it is
    clean, else a copy with the uncommitted changes committed, so the final diff holds only
    the agent's changes and applies on top of the user's work."""
    def git(*args: str, cwd: str | Path = repo) -> subprocess.CompletedProcess:
        env = {**os.environ, "GIT_AUTHOR_NAME": "patchloop", "GIT_AUTHOR_EMAIL": "patchloop@localhost",
               "GIT_COMMITTER_NAME": "patchloop", "GIT_COMMITTER_EMAIL": "patchloop@localhost"}
        return subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, check=False)

    status = git("status", "--porcelain")
    if status.returncode != 0 or not status.stdout.strip():
        return repo  # clean, or not a git repository (the sandbox makes the copy its base)
    copy = tmp / "base"
    shutil.copytree(repo, copy, symlinks=True)
    git("add", "-A", cwd=copy)
    git("commit", "-q", "--no-verify", "-m", "patchloop: your uncommitted changes", cwd=copy)
    return str(copy)


def _apply(console: Console, repo: str, diff: str) -> int:
    """``git apply`` on the user's tree, checked first so a conflict changes nothing."""
    for args in (["--check"], []):
        res = subprocess.run(["git", "apply", *args, "-"], cwd=repo, input=diff, text=True, capture_output=True, check=False)
        if res.returncode != 0:
            console.print(f"[red]the diff does not apply to {repo}: {res.stderr.strip()}[/]")
            return 1
    console.print(f"[green]applied to {repo}[/]")
    return 0
