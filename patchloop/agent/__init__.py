"""patchloop.agent (see DESIGN.md for what this package owns)."""
