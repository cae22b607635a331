"""patchloop.datagen (see DESIGN.md for what this package owns)."""
