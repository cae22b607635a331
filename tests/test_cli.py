"""The command line: every command answers --help, and --help stays instant because heavy
libraries load only inside the commands that need them."""

from __future__ import annotations

import subprocess
import sys

import click
import typer.main

from patchloop.cli import app

HEAVY = ("torch", "transformers", "trl", "peft", "ray", "docker", "langgraph", "datasets", "matplotlib")


def _all_command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths = []

    def walk(cmd: click.Command, prefix: list[str]) -> None:
        paths.append(prefix)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, prefix + [name])

    walk(root, [])
    return paths


def test_every_command_has_help():
    paths = _all_command_paths()
    assert len(paths) > 3, paths
    for path in paths:
        out = subprocess.run(
            [sys.executable, "-m", "patchloop", *path, "--help"], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, (path, out.stderr[-2000:])
        assert "Usage" in out.stdout, path


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from patchloop.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"--help imported: {out.stdout.strip()}"
