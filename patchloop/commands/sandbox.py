"""`patchloop sandbox ...`: build images, run one command in a fresh sandbox, clean up.

Argument parsing only; the work lives in ``patchloop.sandbox`` and is imported inside each
command so ``patchloop --help`` does not load the docker SDK.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from patchloop.commands import Backend

app = typer.Typer(
    help="Sandboxes where untrusted code runs: images, one-off commands, cleanup.",
    no_args_is_help=True,
)



def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"patchloop sandbox: {msg}", err=True)
    raise typer.Exit(code)


@app.command("build-base")
def build_base(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build again even if the image exists.")] = False,
    from_registry: Annotated[bool, typer.Option(
        "--from-registry", help="Try pulling python:3.11-slim first (short timeout); default builds offline.")] = False,
) -> None:
    """Build (or find) the base image: Debian python3/pip/git via mmdebstrap + docker import; prints its tag."""
    from patchloop.evals.waiting import alive
    from patchloop.sandbox.base import SandboxError
    from patchloop.sandbox.images import ensure_base_image

    try:
        with alive("the base image (a first build takes about a minute)"):
            tag = ensure_base_image(rebuild=rebuild, from_registry=from_registry)
        typer.echo(tag)
    except SandboxError as e:
        _fail(str(e))


@app.command("build-env")
def build_env(
    requirements: Annotated[list[str], typer.Argument(help="pip requirement specifiers, e.g. pytest==8.3.3")],
    setup: Annotated[list[str] | None, typer.Option(
        "--setup", help="Shell command run as root after the install (repeatable; no network).")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Base image tag (default: the base image).")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build again even if the image exists.")] = False,
) -> None:
    """Build (or find) an environment image with REQUIREMENTS installed from a host wheelhouse; prints its tag."""
    from patchloop.evals.waiting import alive
    from patchloop.sandbox.base import SandboxError
    from patchloop.sandbox.images import ensure_env_image

    try:
        with alive("the environment image (a first build downloads wheels and installs them)"):
            tag = ensure_env_image(requirements, base=base, setup=setup or (), rebuild=rebuild)
        typer.echo(tag)
    except SandboxError as e:
        _fail(str(e))


@app.command("run", context_settings={"allow_interspersed_args": False})
def run(
    cmd: Annotated[list[str], typer.Argument(
        help="The command, after `--`. One argument is a shell string; several are quoted and joined.")],
    backend: Annotated[Backend, typer.Option("--backend", help="docker, local, or auto (docker if an engine answers).")] = Backend.auto,
    repo: Annotated[Path | None, typer.Option("--repo", help="Repository copied into the workspace.")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Image for the docker backend (default: base image).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Wall-clock limit, seconds; the process tree is killed past it.")] = 60.0,
    memory: Annotated[str, typer.Option("--memory", help="Memory limit, e.g. 512m or 2g.")] = "2g",
    as_json: Annotated[bool, typer.Option("--json", help="Print the ExecResult as one JSON line.")] = False,
) -> None:
    """Run one command in a fresh sandbox, then remove it; exits with the command's exit code."""
    from patchloop.sandbox.base import SandboxError, SandboxLimits, parse_size
    from patchloop.sandbox.factory import open_sandbox

    try:
        limits = SandboxLimits(timeout_s=timeout, memory_bytes=parse_size(memory))
    except ValueError as e:
        _fail(str(e))
    if repo is not None and not repo.is_dir():
        _fail(f"--repo {repo}: not a directory")
    line = cmd[0] if len(cmd) == 1 else shlex.join(cmd)
    # The local backend logs its warning; the CLI prints it itself, once, whatever logging is set to.
    logging.getLogger("patchloop.sandbox.local").setLevel(logging.ERROR)
    try:
        with open_sandbox(backend.value, repo=str(repo) if repo else None, image=image,
                          limits=limits, task_id="cli") as sb:
            if getattr(sb, "backend", "") == "local":
                from patchloop.sandbox.local import WEAKER

                typer.echo(f"patchloop: warning: {WEAKER}", err=True)
            res = sb.run(line, timeout=timeout)
    except SandboxError as e:
        _fail(str(e), code=125)  # like `docker run`: 125 is the sandbox's failure, not the command's
    if as_json:
        typer.echo(json.dumps(res.to_dict(), ensure_ascii=False))
    else:
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
        if res.timed_out:
            typer.echo(f"patchloop sandbox: timed out after {timeout:g}s", err=True)
        if res.oom_killed:
            typer.echo("patchloop sandbox: killed for exceeding the memory limit", err=True)
    raise typer.Exit(_exit_code(res))


def _exit_code(res) -> int:
    """Shell conventions: 124 timeout (like timeout(1)), 137 OOM kill, 128+N for signal N."""
    if res.timed_out:
        return 124
    if res.oom_killed:
        return 137
    return 128 - res.exit_code if res.exit_code < 0 else res.exit_code & 0xFF


@app.command("gc")
def gc_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Remove every patchloop container, not only orphans.")] = False,
) -> None:
    """Remove sandbox containers and volumes left behind (owner process gone; every one with --all)."""
    from patchloop.sandbox.base import SandboxError
    from patchloop.sandbox.docker import gc

    try:
        removed = gc(all=all_)
    except SandboxError as e:
        _fail(str(e))
    # A sandbox is a container plus its workspace volume, both under one name.
    names = sorted(set(removed))
    typer.echo(f"removed {len(names)} sandbox(es)" + (": " + " ".join(names) if names else ""))


@app.command("ls")
def ls_cmd() -> None:
    """List patchloop sandbox containers (id, status, image, owner, task)."""
    from patchloop.sandbox.engine import NoEngine, labelled_containers

    try:
        containers = labelled_containers("patchloop=1")
    except NoEngine as e:
        _fail(f"no Docker engine answers ({e})")
    for c in containers:
        labels = c.labels or {}
        owner = labels.get("patchloop.owner") or labels.get("patchloop.pid", "?")
        image = c.attrs.get("Config", {}).get("Image", "?")
        typer.echo(f"{c.short_id}\t{c.status}\t{image}\towner={owner}\ttask={labels.get('patchloop.task', '')}")
    typer.echo(f"{len(containers)} container(s)", err=True)
