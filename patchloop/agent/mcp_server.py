"""`patchloop mcp`: the agent as a Model Context Protocol server over stdio, for editors.

Tools an editor's assistant can call:

- ``propose_fix(repo, issue)``: the agent works on a copy of the repository in a sandbox
  and returns the diff and the tests it ran; it applies nothing. Each agent step is
  reported as MCP progress, so the editor can show the fix taking shape.
- ``repo_map(repo, query)``: the ranked outline the agent itself starts from.
- ``run_tests(repo, selector)``: the repository's tests, run in a sandbox copy.
- ``apply_diff(repo, diff)``: ``git apply`` a diff the user approved onto their tree,
  checked first so a conflict changes nothing.

Built on the official ``mcp`` SDK (``MCPServer``, 2.x). Mistakes in a call (a missing
repository, a diff that does not apply, an unreachable model) come back as a tool error
with one line of text, never a crash of the server.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from patchloop.agent.state import AgentConfig
from patchloop.types import Task


class ToolFailure(ToolError):
    """One line for the editor: what was wrong with the call (the SDK's ``ToolError``, so
    the text reaches the client as an error result instead of a logged crash)."""


def _repo(path: str) -> str:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise ToolFailure(f"repository not found: {path}")
    return str(p.resolve())


def package_version() -> str:
    """patchloop's installed version, which a client sees as the server's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("patchloop")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def build_server(*, model_spec: str | None, base_url: str | None, cfg: AgentConfig, backend: str = "auto",
                 model_factory: Callable | None = None):
    """The server with its four tools; ``model_factory`` overrides how the fix model is built."""
    server = MCPServer("patchloop", version=package_version(), instructions="Propose fixes to a repository with the patchloop agent; "
                       "nothing is applied until apply_diff is called with a diff the user approved.")

    def make_model():
        if model_factory is not None:
            return model_factory()
        if not model_spec:
            raise ToolFailure("the server was started without --model, so it cannot propose fixes")
        from patchloop.llm import load_chat_model

        return load_chat_model(model_spec, base_url=base_url, max_tokens=cfg.completion_tokens)

    @server.tool()
    async def propose_fix(repo: str, issue: str, max_steps: int = 0, *, ctx: Context) -> dict:
        """Let the agent fix `issue` in a sandbox copy of `repo`; returns the diff and the tests it ran. Applies nothing."""
        root = _repo(repo)
        steps = max_steps or cfg.max_steps
        conf = cfg.model_copy(update={"max_steps": steps, "approve": "auto"})
        done = {"n": 0}

        def on_event(node: str, values: dict) -> None:
            if node == "model":
                done["n"] += 1
                calls = ", ".join(c["name"] for m in values.get("messages", []) for c in getattr(m, "tool_calls", []))
                anyio.from_thread.run(ctx.report_progress, done["n"], steps, f"step {done['n']}: {calls or 'thinking'}")

        traj = await anyio.to_thread.run_sync(_fix_in_sandbox, make_model, root, issue, conf, backend, on_event)
        tests = [{"tests": (obs.splitlines() or [""])[0]} for s in traj.steps
                 for c, obs in zip(s.tool_calls, s.observations) if c.get("name") == "run_tests"]
        return {"diff": traj.model_patch, "tests_run": tests, "exit_reason": traj.exit_reason,
                "steps": len(traj.steps), "applied": False}

    @server.tool()
    async def repo_map(repo: str, query: str = "") -> str:
        """A ranked outline (classes, functions, signatures) of `repo`, most relevant to `query` first."""
        root = _repo(repo)
        return await anyio.to_thread.run_sync(_with_tools, root, cfg, backend, lambda t: t.repo_map(query))

    @server.tool()
    async def run_tests(repo: str, selector: str = "") -> str:
        """Run the tests of `repo` (a file, directory or file::test, or all) in a sandbox copy."""
        root = _repo(repo)
        return await anyio.to_thread.run_sync(_with_tools, root, cfg, backend, lambda t: t.run_tests(selector))

    @server.tool()
    def apply_diff(repo: str, diff: str) -> str:
        """Apply a unified diff the user approved to `repo`'s working tree (checked first; a conflict changes nothing)."""
        root = _repo(repo)
        for args in (["--check"], []):
            res = subprocess.run(["git", "apply", *args, "-"], cwd=root, input=diff, text=True,
                                 capture_output=True, check=False)
            if res.returncode != 0:
                raise ToolFailure(f"the diff does not apply to {root}: {' '.join(res.stderr.split())[:400]}")
        return f"applied to {root}"

    return server


def _with_tools(root: str, cfg: AgentConfig, backend: str, use: Callable):
    from patchloop.agent.tools import SandboxTools
    from patchloop.agent.workspace import open_workspace

    with open_workspace(Task(instance_id="mcp", repo=Path(root).name), backend, repo=root) as (sb, python):
        return use(SandboxTools(sb, cfg.model_copy(update={"python": python})))


def _fix_in_sandbox(make_model, root: str, issue: str, cfg: AgentConfig, backend: str, on_event):
    import tempfile

    from patchloop.agent.fix import _as_base
    from patchloop.agent.runner import run_episode
    from patchloop.agent.workspace import open_workspace
    from patchloop.llm import LLMError
    from patchloop.sandbox.base import SandboxError

    task = Task(instance_id="mcp-fix", repo=Path(root).name, problem_statement=issue)
    try:
        model = make_model()
        with tempfile.TemporaryDirectory(prefix="patchloop-mcp-") as tmp, \
                open_workspace(task, backend, repo=_as_base(root, Path(tmp))) as (sb, python):
            return run_episode(model, sb, task, cfg.model_copy(update={"python": python}), on_event=on_event)
    except (LLMError, SandboxError) as e:
        raise ToolFailure(str(e)) from None
