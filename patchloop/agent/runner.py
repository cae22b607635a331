"""Run one episode of the graph on a sandbox: start or resume by thread id, stream events,
answer approvals, and return the trajectory. Used by `fix`, `batch` and rollouts."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from langgraph.types import Command

from patchloop.agent.graph import build_graph
from patchloop.agent.state import AgentConfig
from patchloop.agent.tools import SandboxTools, langchain_tools
from patchloop.agent.trajectory import to_trajectory
from patchloop.agent.window import fit_to_model, opening_messages, reserve_tokens, schema_specs
from patchloop.sandbox.base import SandboxError
from patchloop.types import Task, Trajectory


def open_checkpointer(path: str | Path):
    """A SQLite checkpointer that deserialises strictly: only LangGraph's allow-list of
    safe types (messages, datetimes, ...) is rebuilt, never an arbitrary Python class, so a
    tampered checkpoint file cannot run code (our state holds nothing else)."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)  # batch threads share it; it locks
    return SqliteSaver(conn, serde=JsonPlusSerializer(allowed_msgpack_modules=None))


def run_episode(
    model,
    sandbox,
    task: Task,
    cfg: AgentConfig,
    *,
    checkpointer=None,
    thread_id: str | None = None,
    on_event: Callable[[str, dict], None] | None = None,
    approve: Callable[[dict], bool | str] | None = None,
    model_name: str = "",
    callbacks: list | None = None,
) -> Trajectory:
    """Run (or resume, when ``thread_id`` has a checkpoint) one episode to its end.

    On resume the workspace is rebuilt by applying the checkpointed diff to the fresh
    sandbox; side effects outside the repository's files (installed packages, /tmp) are
    not restored. ``approve`` answers interrupts in ``ask`` mode: True, False or feedback.
    ``callbacks``: LangChain callback handlers for the run (e.g. a live token count).
    """
    t0 = time.monotonic()
    if checkpointer is None:  # the loop reads the final state (and interrupts) from a checkpoint
        from langgraph.checkpoint.memory import InMemorySaver

        checkpointer = InMemorySaver()
    cfg, count, window = fit_to_model(model, cfg)
    if on_event is not None:
        on_event("window", {"window": window})
    tools = SandboxTools(sandbox, cfg, task.problem_statement)
    graph = build_graph(model, tools, cfg, checkpointer, count)
    conf = {"configurable": {"thread_id": thread_id or task.instance_id}, "recursion_limit": 4 * cfg.max_steps + 20,
            **({"callbacks": callbacks} if callbacks else {})}
    saved = graph.get_state(conf).values
    if saved:
        if saved.get("patch"):
            res = sandbox.apply_patch(saved["patch"])
            if not res.ok:
                raise SandboxError(task.instance_id, f"cannot restore the checkpointed workspace: {res.output[-300:]}")
        tools.submitted = bool(saved.get("submitted"))
        inp = None
        if on_event is not None:
            on_event("resume", {"steps": saved.get("steps", 0), "restored": bool(saved.get("patch"))})
    else:
        reserve = reserve_tokens(schema_specs(langchain_tools(tools)), cfg, count)
        inp = {"messages": opening_messages(task, tools, cfg, count, reserve)}
    while True:
        # durability="sync": a checkpoint is on disk before the next node starts, so a kill loses
        # at most the node that was running
        for update in graph.stream(inp, conf, stream_mode="updates", durability="sync"):
            for node, values in update.items():
                if on_event is not None and node != "__interrupt__":
                    on_event(node, values or {})
        snap = graph.get_state(conf)
        pending = [i for t in snap.tasks for i in t.interrupts]
        if not pending:
            break
        if approve is None:
            raise RuntimeError(f"{task.instance_id}: the run waits for approval but nothing can answer it")
        inp = Command(resume=approve(pending[0].value))
    traj = to_trajectory(snap.values, task.instance_id, model_name, time.monotonic() - t0,
                         tools=[{"type": "function", "function": s} for s in schema_specs(langchain_tools(tools))])
    traj.extra["window"] = window
    return traj
