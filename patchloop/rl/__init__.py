"""patchloop.rl (see DESIGN.md for what this package owns)."""
