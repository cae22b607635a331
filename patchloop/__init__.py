"""patchloop: an agentic code assistant that learns from execution."""
