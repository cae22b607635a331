"""Notes for the model when a step made no progress it can see for itself.

Two ways the 1.5B model spent whole episodes, greedy, on the built-in instances: it wrote a
reply it had written before (``sed`` the fix, run the tests, ``sed`` again, ...), and it
ran a ``sed -i`` whose pattern matched nothing (``text[: width]`` is a bracket expression
to sed), read ``exit code 0`` and went on as if the file had changed. Both are told to the
model with the step's result; a repeated reply also makes the next one sample warmer
(``graph.retry_sampling``).
"""

from __future__ import annotations

import json
import re

from langchain_core.messages import AIMessage

# A command that means to change a file in place: sed/perl -i, a redirect into a file, tee.
_EDITS = re.compile(r"\bsed\s+(?:-[^\s]*\s+)*-[a-zA-Z]*i|\bperl\s+-[a-zA-Z]*i|(?<![0-9&>])>>?\s*(?!/dev/)[\w./-]+"
                    r"|\btee\s")


def _signature(ai: AIMessage) -> str:
    text = ai.content if isinstance(ai.content, str) else json.dumps(ai.content)
    calls = [(c["name"], c.get("args") or {}) for c in ai.tool_calls]
    return json.dumps([text.strip(), calls], sort_keys=True, default=str)


def repeated_step(earlier: list, ai: AIMessage) -> int | None:
    """The 1-based step of a reply in ``earlier`` (the messages before ``ai``) identical to
    ``ai``, its text and its calls."""
    mine = _signature(ai)
    replies = [m for m in earlier if isinstance(m, AIMessage)]
    return next((i + 1 for i, m in enumerate(replies) if _signature(m) == mine), None)


def changed_nothing(calls: list[dict], before: str, after: str | None) -> bool:
    """A ``run`` meant to edit a file (``sed -i``, a redirect, ``tee``) left the diff as it was."""
    if after is None or after != before:
        return False
    return any(c["name"] == "run" and _EDITS.search(str((c.get("args") or {}).get("command", ""))) for c in calls)


def step_notes(earlier: list, ai: AIMessage, before: str, after: str | None) -> str:
    """What to put after the step's last result, or "": ``earlier`` are the messages before
    the reply ``ai``, ``before``/``after`` the diff before and after its calls (None: no call
    could change it)."""
    notes = []
    if (step := repeated_step(earlier, ai)) is not None:
        notes.append(f"note: this reply is the same as your reply at step {step}, word for word; doing the "
                     "same thing again gives the same result. Try something different.")
    if changed_nothing(list(ai.tool_calls), before, after):
        notes.append("note: the command changed no file: the repository's diff is what it was before "
                     "(a sed pattern that matched nothing?). Look at the file and try again.")
    return "\n".join(notes)
