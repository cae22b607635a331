"""What an MCP client is told: the server's real version, and the languages the repository
map actually covers in this repository (not every language it could)."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

from mcp.client import Client

from patchloop.agent.mcp_server import build_server
from tests.agent.conftest import agent_config


def _ask(repo):
    async def go():
        async with Client(build_server(model_spec=None, base_url=None, cfg=agent_config(), backend="local")) as client:
            outline = await client.call_tool("repo_map", {"repo": str(repo)})
            return client.server_info, "\n".join(getattr(c, "text", "") for c in outline.content)
    return asyncio.run(go())


def test_the_server_reports_its_version_and_the_languages_it_mapped(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "README.md").write_text("# pkg\n")
    info, outline = _ask(tmp_path)
    assert info.name == "patchloop" and info.version == version("patchloop") and info.version
    assert "languages: python]" in outline
    assert "javascript" not in outline and "rust" not in outline
