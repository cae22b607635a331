"""`model list` says why data from PyPI packages with unrelated names is trusted: the pinned
size, sha256 and GGUF name the assembled file is checked against, and that nothing from
those packages is installed or imported."""

from __future__ import annotations

import os
import subprocess
import sys

from patchloop.llm.catalog.models import CATALOG


def test_model_list_shows_the_pins_and_that_nothing_is_installed(tmp_path):
    env = {**os.environ, "PATCHLOOP_CACHE": str(tmp_path), "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "patchloop", "model", "list"], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout
    for m in CATALOG.values():
        assert f"sha256 {m.pypi.sha256}" in out and f"size {m.pypi.size:,} bytes" in out
        assert f"GGUF general.name {m.pypi.gguf_name!r}" in out
        assert f"{m.pypi.prefix}1..{m.pypi.count}=={m.pypi.version}" in out
    assert out.count("never installed or imported") == len(CATALOG)
    assert out.count("here: not fetched") == len(CATALOG)
    assert max(len(line) for line in out.splitlines()) <= 80
