"""The one exception the LLM backends raise for infrastructure trouble."""

from __future__ import annotations


class LLMError(RuntimeError):
    """A backend cannot answer: unreachable endpoint, missing checkpoint, prompt too long.

    ``str()`` is a single line naming the model or endpoint and the cause, so a batch can
    log it next to the item it failed on and go on.
    """

    def __init__(self, msg: str):
        super().__init__(" ".join(str(msg).split()))
