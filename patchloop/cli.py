"""The one ``patchloop`` command line. Argument parsing only; the work lives in the packages."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="patchloop",
    help="An agentic code assistant that learns from execution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

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


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
