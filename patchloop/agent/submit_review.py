"""Before a submit ends the episode: does the change break tests that passed without it?

Small models often submit a fix that breaks the repository's own tests (each of the three
diffs the 1.5B model submitted in the first real-model runs failed tests that passed at the
base commit). The repository's tests run on the changed tree; where some fail, they run
again with the change stashed, and only the tests that fail with the change and passed
without it count as regressions. The model is shown them once and may fix its change or
submit again. Tests that already failed at the base commit never block a submit, so a
repository with a broken suite is no worse off.
"""

from __future__ import annotations

import re

from patchloop.sandbox.patching import GIT_ENV

FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$")
SHOWN = 15  # regressions named to the model; the count says how many more


def failing_tests(output: str) -> set[str]:
    """Test ids from pytest's short summary (``-rfE``): ``FAILED path::test - message``."""
    return {m.group(1) for line in output.splitlines() if (m := FAILED_LINE.match(line))}


def regressions(tools) -> list[str]:
    """Tests that fail with the workspace's change and pass without it, sorted; [] when the
    suite passes, times out or cannot tell (no summary), so a review never invents a failure."""
    now = _run_suite(tools)
    if not now:
        return []
    top = _stash_top(tools)
    _git(tools, "stash push --include-untracked --quiet")
    if _stash_top(tools) in ("", top):
        return []  # nothing stashed (the change is committed, or git refused): no base to compare
    try:
        before = _run_suite(tools)
    finally:  # the stash exists, so clearing what the base run left behind loses nothing
        if not _git(tools, "stash pop --quiet"):
            _git(tools, "checkout -- . && git clean -fdq && git stash pop --quiet")
    return [] if before is None else sorted(now - before)


def _stash_top(tools) -> str:
    """The newest stash's id, "" when there is none (the model may have stashed too)."""
    return tools._sb.run("git rev-parse -q --verify refs/stash", timeout=60.0, env=GIT_ENV).stdout.strip()


def _git(tools, args: str) -> bool:
    return tools._sb.run(f"git {args}", timeout=60.0, env=GIT_ENV).exit_code == 0


def refusal(found: list[str]) -> str:
    more = f"\n... and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return ("not submitted: your change breaks tests that pass without it:\n"
            + "\n".join(found[:SHOWN]) + more
            + "\nFix the change (run_tests shows the failures), or call submit again to submit it as it is.")


def _run_suite(tools) -> set[str] | None:
    res = tools._run_test_command()
    if res.timed_out:
        return None
    failed = failing_tests(res.output)
    if res.exit_code != 0 and not failed:
        return None  # no tests collected, or output it cannot read
    return failed
