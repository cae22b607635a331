"""patchloop.llm (see DESIGN.md for what this package owns)."""
