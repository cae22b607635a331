"""The one ``patchloop`` command line. Argument parsing only; the work lives in the packages."""

from __future__ import annotations

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

from patchloop.commands import (  # noqa: E402 -- after quiet_env(), which must come before any of them
    batch,
    datagen,
    demo,
    evaluate,
    fix,
    mcp,
    model,
    sandbox,
    serve,
    train,
)

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

# Command groups (a Typer app each) and single commands, imported plainly: a missing module
# fails here, loudly, and every arrow from the front end is visible to the architecture test.
for _module, _name in [(sandbox, "sandbox"), (model, "model"), (evaluate, "eval"), (datagen, "datagen"),
                       (train, "train")]:
    app.add_typer(_module.app, name=_name)
for _command, _name in [(serve.serve, "serve"), (fix.fix, "fix"), (batch.batch, "batch"), (mcp.mcp, "mcp"),
                        (demo.demo, "demo")]:
    app.command(_name)(_command)
whole_help(app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
