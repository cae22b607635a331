"""``run_tests`` given a source file: run the tests of that file instead of none.

Small models pass the module they edited as the selector (``boltons/dictutils.py``, or
``boltons/cacheutils.py::CachedMethod.__get__``); pytest collects nothing there and answers
"no tests ran", which the 1.5B model read as nothing to learn and went on to submit or to
repeat the call. The test files named after the module (``test_dictutils.py``,
``dictutils_test.py``) are what it meant.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from patchloop.evals.localize import is_test_path


def tests_for_source(selector: str, files: list[str]) -> tuple[list[str], str] | None:
    """``(test files, note for the model)`` when ``selector`` names a source file of ``files``
    (with or without ``::name``) rather than tests; None when it already names tests, or
    names nothing known. The list is empty when no test file is named after the module."""
    path = selector.strip().split("::", 1)[0]
    if not path.endswith(".py") or path not in files or is_test_path(path):
        return None
    stem = PurePosixPath(path).stem
    found = sorted(f for f in files if is_test_path(f) and PurePosixPath(f).name in (f"test_{stem}.py", f"{stem}_test.py"))
    if not found:
        return [], (f"{path} is not a test file and no test file is named after it; give run_tests a test "
                    f"file, a tests directory, or nothing to run every test")
    return found, f"{path} is not a test file; ran the tests named after it ({', '.join(found)})"
