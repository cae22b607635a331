"""Fixtures for agent tests: a real local sandbox over a sample repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_tmpsandbox import TmpSandbox

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def textkit_sandbox():
    sb = TmpSandbox(EXAMPLES / "repos" / "textkit")
    yield sb
    sb.close()
