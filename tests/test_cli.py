"""The command line: every command answers --help, and --help stays instant because heavy
libraries load only inside the commands that need them."""

from __future__ import annotations

import subprocess
import sys

import typer.main
from typer.testing import CliRunner

from patchloop.cli import app

HEAVY = ("torch", "transformers", "trl", "peft", "ray", "docker", "langgraph", "datasets", "matplotlib")


def _all_command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths = []

    def walk(cmd, prefix: list[str]) -> None:
        paths.append(prefix)
        # typer may bring its own click copy: look for sub-commands, not for a click class
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, prefix + [name])

    walk(root, [])
    return paths


def test_every_command_has_help():
    paths = _all_command_paths()
    assert len(paths) > 3, paths
    runner = CliRunner()
    for path in paths:
        out = runner.invoke(app, [*path, "--help"])
        assert out.exit_code == 0, (path, out.output[-2000:])
        assert "Usage" in out.output, path


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
