"""Keep the model libraries' own notes out of the user's terminal and a benchmark's log.

Loading bars, hub download bars and advisories of transformers, TRL, PEFT and datasets say
nothing a user of patchloop needs; our own rich progress says what is happening. Two halves:
``quiet_env`` sets environment defaults and warning filters and imports nothing heavy, so the
CLI and the bench scripts call it first, before any of those libraries is imported;
``quiet_libraries`` also turns the loaded libraries' loggers down, for long runs that import them
anyway. A user who wants the notes back sets the variables (or passes ``-W``).
"""

from __future__ import annotations

import os
import sys
import warnings

ENV_DEFAULTS = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
LIBRARIES = ("transformers", "trl", "peft", "accelerate", "datasets", "torch")


def quiet_env() -> None:
    """Environment defaults and warning filters; effective for libraries imported afterwards."""
    for var, value in ENV_DEFAULTS.items():
        os.environ.setdefault(var, value)
    if sys.warnoptions:  # the user asked for warnings explicitly
        return
    for lib in LIBRARIES:
        warnings.filterwarnings("ignore", category=FutureWarning, module=lib)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=lib)


def quiet_libraries() -> None:
    """``quiet_env`` plus the loggers and bars of transformers and datasets, which read their
    environment only once, at import (errors still show)."""
    import datasets
    import transformers

    quiet_env()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()
    for module in LIBRARIES:
        warnings.filterwarnings("ignore", module=module)
