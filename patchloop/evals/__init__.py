"""patchloop.evals (see DESIGN.md for what this package owns)."""
