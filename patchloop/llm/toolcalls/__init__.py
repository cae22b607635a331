"""Tool calls read out of model text: ``parse`` for the Hermes/Qwen ``<tool_call>`` format,
``salvage`` for the shapes small models write when they miss it."""
