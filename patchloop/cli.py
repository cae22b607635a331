"""The one ``patchloop`` command line. Argument parsing only; the work lives in the packages."""

from __future__ import annotations

import importlib

import typer

from patchloop.commands.console import whole_lines_when_piped
from patchloop.commands.help_format import whole_help
from patchloop.llm.quiet import quiet_env

# -h everywhere; help as wide as the terminal (up to 120 columns), each text whole and wrapped
# under its option (commands/help_format.py).
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 120}

# Third-party progress bars, advice and deprecation notices stay out of the user's terminal;
# our own rich progress says what is happening. Set before any of those libraries is imported.
quiet_env()
whole_lines_when_piped()  # piped output: long lines stay whole (paths, error messages)

app = typer.Typer(
    name="patchloop",
    help="An agentic code assistant that learns from execution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings=CONTEXT,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"patchloop {version('patchloop')}")
        except PackageNotFoundError:
            typer.echo("patchloop (not installed as a package)")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """An agentic code assistant that learns from execution."""

# (module under patchloop.commands, command-group name). A group whose module is not
# there yet is simply absent, so packages can land one at a time.
_GROUPS = [
    ("sandbox", "sandbox"),
    ("model", "model"),
    ("evaluate", "eval"),
    ("datagen", "datagen"),
    ("train", "train"),
]
# Single commands: (module, function name, command name).
_COMMANDS = [
    ("serve", "serve", "serve"),
    ("fix", "fix", "fix"),
    ("batch", "batch", "batch"),
    ("mcp", "mcp", "mcp"),
    ("demo", "demo", "demo"),
]


def _register() -> None:
    for module, name in _GROUPS:
        try:
            mod = importlib.import_module(f"patchloop.commands.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"patchloop.commands.{module}":
                raise
            continue
        app.add_typer(mod.app, name=name)
    for module, func, name in _COMMANDS:
        try:
            mod = importlib.import_module(f"patchloop.commands.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"patchloop.commands.{module}":
                raise
            continue
        app.command(name)(getattr(mod, func))


_register()
whole_help(app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
