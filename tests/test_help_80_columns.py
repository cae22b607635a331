"""Every command's --help reads whole at 80 columns: no text cut with "…" or "...", no line
past 80 columns, no ``<bool>`` type on a flag, and every option says what it does."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from patchloop.cli import app


def _commands() -> list[tuple[list[str], object]]:
    found = []

    def walk(cmd, prefix: list[str]) -> None:
        found.append((prefix, cmd))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, prefix + [name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "patchloop")
def test_help_reads_whole_at_80_columns(path):
    out = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert out.exit_code == 0, out.output
    body = [ln for ln in out.output.splitlines() if not ln.startswith("Usage:")]
    assert not [ln for ln in body if "…" in ln or ln.rstrip().endswith("...")], out.output
    assert not [ln for ln in out.output.splitlines() if len(ln) > 80], out.output
    assert "<bool>" not in out.output


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=lambda x: " ".join(x) if isinstance(x, list) else "")
def test_every_option_has_a_description(path, cmd):
    bare = [p.opts[0] for p in getattr(cmd, "params", [])
            if p.param_type_name == "option" and not (p.help or "").strip() and p.name != "help"]
    assert not bare, f"patchloop {' '.join(path)}: options without help: {bare}"
