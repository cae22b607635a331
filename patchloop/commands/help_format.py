"""Help that reads whole at 80 columns.

Rich's help table gave the descriptions a column about 20 characters wide at 80 columns,
cut texts with "…" and showed a ``<bool>`` type on every flag. Click's own help layout
wraps each description under its option instead, and shows a flag as ``--apply`` or
``--demos / --no-demos``. A group's command list shows each command's first sentence whole
(click cuts it at the line's end with "...").
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup


class WholeHelpGroup(TyperGroup):
    """A command group whose list of commands gives each one's first sentence, wrapped, not cut."""

    def format_commands(self, ctx, formatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def whole_help(app: typer.Typer) -> None:
    """Give ``app`` and every group under it the plain, whole help layout (see module doc)."""
    app.rich_markup_mode = None  # passed down to every sub-group and command
    stack = [app]
    while stack:
        group = stack.pop()
        group.info.cls = WholeHelpGroup
        stack += [info.typer_instance for info in group.registered_groups]
