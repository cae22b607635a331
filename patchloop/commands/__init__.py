"""Typer sub-apps, one module per command group. Argument parsing only: each command
imports the package that does the work inside its body, so ``patchloop --help`` stays instant."""
