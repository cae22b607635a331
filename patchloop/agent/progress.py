"""Notes for the model when a step made no progress it can see for itself.

Two ways the 1.5B model spent whole episodes, greedy, on the built-in instances: it wrote a
reply it had written before (``sed`` the fix, run the tests, ``sed`` again, ...), and it
ran a ``sed -i`` whose pattern matched nothing (``text[: width]`` is a bracket expression
to sed), read ``exit code 0`` and went on as if the file had changed. Both are told to the
model with the step's result; a repeated reply also makes the next one sample warmer
(``budget.retry_sampling``). A reply that repeated an earlier one and got the same results is
left out of what the model is sent next (``without_repeats``): it copies what it sees, so each
copy it is shown makes the next copy likelier.
"""

from __future__ import annotations

import json
import re

from langchain_core.messages import AIMessage, HumanMessage

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


REPEAT_NOTE = ("note: this reply is the same as your reply at step {step}, word for word; doing the "
               "same thing again gives the same result. Try something different.")
NO_CHANGE_NOTE = ("note: the command changed no file: the repository's diff is what it was before "
                  "(a sed pattern that matched nothing?). Look at the file and try again.")
LEFT_OUT = "left_out_steps"  # additional_kwargs of the line that stands for left-out steps


def step_notes(earlier: list, ai: AIMessage, before: str, after: str | None) -> str:
    """What to put after the step's last result, or "": ``earlier`` are the messages before
    the reply ``ai``, ``before``/``after`` the diff before and after its calls (None: no call
    could change it)."""
    notes = []
    if (step := repeated_step(earlier, ai)) is not None:
        notes.append(REPEAT_NOTE.format(step=step))
    if changed_nothing(list(ai.tool_calls), before, after):
        notes.append(NO_CHANGE_NOTE)
        notes += [sed_hint(str((c.get("args") or {}).get("command", ""))) for c in ai.tool_calls
                  if c["name"] == "run"]
    return "\n".join(n for n in notes if n)


# sed's s command: delimiter, pattern, with escaped delimiters allowed inside the pattern
_SED_S = re.compile(r"\bsed\b[^'\"]*?(['\"])s(.)((?:\\.|(?!\2).)*)\2")
_SPECIAL = {"[": r"\[", "]": r"\]", ".": r"\.", "*": r"\*", "^": r"\^", "$": r"\$"}


def sed_hint(command: str) -> str:
    """For a sed substitution whose pattern holds unescaped ``[`` or ``*``, why it may have
    matched nothing and how to write it: the 1.5B model's ``obj.__dict__[self.func.__name__]``
    and ``text[: width`` patterns were character sets to sed, and it was never told so."""
    m = _SED_S.search(command)
    if m is None:
        return ""
    pattern = m.group(3)
    if not any(ch in re.sub(r"\\.", "", pattern) for ch in "[*"):  # only what is left unescaped counts
        return ""
    escaped = pattern if "\\" in pattern else "".join(_SPECIAL.get(ch, ch) for ch in pattern)
    return (f"note: in the sed pattern `{pattern}`, `[...]` means one of those characters and `*` repeats the "
            f"character before it, so it does not match that text; write the pattern as `{escaped}`, or edit the "
            f"file with a short python script.")


def _results(msgs: list) -> list[str]:
    """A step's results without the notes added to them, which differ between repeats."""
    out = []
    for m in msgs:
        text = m.content if isinstance(m.content, str) else json.dumps(m.content)
        out.append("\n".join(ln for ln in text.split("\n") if not ln.startswith("note: ")))
    return out


def _steps(messages: list) -> tuple[list, list[tuple[AIMessage, list]]]:
    """The messages before the first reply, and each reply with the messages that followed it."""
    at = next((i for i, m in enumerate(messages) if isinstance(m, AIMessage)), len(messages))
    steps: list[tuple[AIMessage, list]] = []
    for m in messages[at:]:
        if isinstance(m, AIMessage):
            steps.append((m, []))
        else:
            steps[-1][1].append(m)
    return messages[:at], steps


def without_repeats(messages: list) -> list:
    """``messages`` with every step whose reply and results are those of an earlier step
    replaced by one line saying so; a run of such steps shares one line. A repeat whose
    results differ (the tests after an edit) is kept: it told the model something new."""
    head, steps = _steps(messages)
    out, seen, run = list(head), {}, []
    for number, (ai, results) in enumerate(steps, start=1):
        key = (_signature(ai), json.dumps(_results(results)))
        first = seen.setdefault(key, number)
        if first != number and results:
            run.append((number, first))
            continue
        out.extend(_left_out(run) + [ai, *results])
        run = []
    return out + _left_out(run)


def _left_out(run: list[tuple[int, int]]) -> list:
    if not run:
        return []
    said = ", ".join(f"step {n} repeated step {f}" for n, f in run)
    text = (f"note: {said}, word for word, and got the same result, so it is left out here. "
            "Doing the same thing again gives the same result: try something different.")
    return [HumanMessage(text, additional_kwargs={LEFT_OUT: [n for n, _ in run]})]
