"""The agent graph: guard -> model -> tools -> guard ... -> finish.

The guard runs before every model call, so no budget is overshot by a call it could have
foreseen. The tools node asks for approvals (interrupts) before it runs anything: a node
that hits an interrupt re-runs from its start on resume, so nothing before one may have
side effects. Every state update is plain data, checkpointed after each node.

Each node is a module-level function of the state and the episode's :class:`Wiring` (the
model, the tools and what is derived from them once), so each can be called, and tested, alone.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage, convert_to_openai_messages
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, interrupt

from patchloop.agent import progress
from patchloop.agent.budget import limit_reason, retry_sampling
from patchloop.agent.context import Counter, approx_tokens, cap_observation, fit_context, prompt
from patchloop.agent.state import AgentConfig, AgentState
from patchloop.agent.text_actions import as_text_turns, bind, read_reply
from patchloop.agent.tools import READ_ONLY, SandboxTools, langchain_tools, run_call, workspace_diff
from patchloop.agent.trajectory import token_log
from patchloop.agent.window import DEFAULT_CONTEXT, reserve_tokens, schema_specs


@dataclass
class Wiring:
    """One episode's model and tools, and what the nodes derive from them once: the tools by
    name, their schemas, the model bound to them, the window and the tokens kept for schemas
    and the reply. ``count`` counts a message's tokens (the model's tokenizer where at hand)."""

    model: Any
    tools: SandboxTools
    cfg: AgentConfig
    count: Counter = approx_tokens
    by_name: dict = field(init=False)
    specs: dict = field(init=False)
    bound: Any = field(init=False)
    context: int = field(init=False)
    reserve: int = field(init=False)

    def __post_init__(self):
        lc_tools = langchain_tools(self.tools)
        self.by_name = {t.name: t for t in lc_tools}
        self.specs = {s["name"]: s for s in schema_specs(lc_tools)}
        self.bound = bind(self.model, lc_tools, self.cfg)
        self.context = self.cfg.context_tokens or DEFAULT_CONTEXT
        self.reserve = reserve_tokens(list(self.specs.values()), self.cfg, self.count)  # schemas and reply share the window


def fitted(state: AgentState, w: Wiring) -> tuple[list, bool]:
    """The messages to send, and whether leaving out repeats or context fitting changed
    them from the conversation as it happened."""
    kept = progress.without_repeats(state["messages"]) if w.cfg.leave_out_repeats else state["messages"]
    whole = as_text_turns(kept, w.cfg)
    sent = fit_context(whole, w.context, w.reserve, w.count)
    return sent, len(kept) != len(state["messages"]) or any(a is not b for a, b in zip(sent, whole))


def guard(state: AgentState, w: Wiring) -> dict:
    """End the episode when it was submitted, a budget would be overshot, or nothing fits."""
    if state.get("submitted"):
        return {"exit_reason": "submitted"}
    reason = limit_reason(state, w.cfg, w.count)
    if not reason and sum(w.count(m) for m in fitted(state, w)[0]) + w.reserve > w.context:
        reason = "context_full"  # even shortened, the task and the latest state no longer fit
    return {"exit_reason": reason} if reason else {}


def call_model(state: AgentState, w: Wiring) -> dict:
    """One model call on the fitted conversation; its reply, usage and step log entry."""
    t0 = time.monotonic()
    sent, cut = fitted(state, w)
    options = retry_sampling(state["messages"], w.model, w.cfg)
    ai = read_reply(w.bound.invoke(sent, **options), w.by_name, w.cfg)
    dt = time.monotonic() - t0
    usage, meta = ai.usage_metadata or {}, ai.response_metadata or {}
    pt = usage.get("input_tokens") or sum(w.count(m) for m in sent)
    ct = usage.get("output_tokens") or w.count(ai)
    log = {"kind": "model", "model_s": dt, "prompt_tokens": pt, "completion_tokens": ct,
           **token_log(meta, state.get("step_log", [])), "context_cut": cut,
           "prompt_messages": convert_to_openai_messages(sent) if cut else None, **options}
    # the prompt ids live in the step log (compactly); copies on every message would
    # make each checkpoint grow with the square of the conversation
    ai = ai.model_copy(update={"response_metadata": {k: v for k, v in meta.items() if k != "prompt_token_ids"}})
    return {"messages": [ai], "steps": 1, "prompt_tokens": pt, "completion_tokens": ct,
            "cost": float(meta.get("cost") or 0.0), "wall_s": dt, "last_call_tokens": pt + ct,
            "step_log": [log]}


def _invalid_call_message(bad: dict, cfg: AgentConfig):
    """What the model is told about a call that could not be read."""
    text = bad["error"] if cfg.action_mode == "text" else (f"error: malformed call to {bad.get('name') or 'a tool'}: {bad.get('error') or 'arguments are not valid JSON'}."
            " Call the tool again with valid JSON arguments.")
    return ToolMessage(text, tool_call_id=bad["id"], name=bad.get("name") or "invalid") if bad.get("id") else HumanMessage(text)


def run_tools(state: AgentState, w: Wiring) -> dict:
    """Ask for approvals, run the reply's tool calls, and answer every call (or its absence)."""
    ai, cfg = state["messages"][-1], w.cfg
    calls = list(ai.tool_calls)
    # Approvals first, before any tool runs (see the module docstring).
    decisions = [interrupt({"tool": c["name"], "args": c["args"]})
                 if cfg.approve == "ask" and c["name"] not in READ_ONLY and c["name"] in w.by_name else True
                 for c in calls]
    t0 = time.monotonic()
    out: list = []
    for call, ok in zip(calls, decisions):
        if ok is True:
            text = run_call(call, w.by_name, w.specs)
        else:
            text = "The user declined this call." + (f" They said: {ok}" if isinstance(ok, str) else "")
        out.append(ToolMessage(cap_observation(text, cfg.observation_chars),
                               tool_call_id=call.get("id") or f"call_{uuid.uuid4().hex[:8]}", name=call["name"]))
    out += [_invalid_call_message(bad, cfg) for bad in ai.invalid_tool_calls]
    if not out:
        out.append(HumanMessage(prompt(cfg.prompt_version, "no_tool_call", tools=", ".join(w.by_name))))
    update = {"messages": out, "submitted": w.tools.submitted}
    if any(c["name"] not in READ_ONLY for c in calls):
        update["patch"] = workspace_diff(w.tools)  # what a resume re-applies to a fresh workspace
    if note := progress.step_notes(state["messages"][:-1], ai, state.get("patch", ""), update.get("patch")):
        out[-1] = out[-1].model_copy(update={"content": f"{out[-1].content}\n{note}"})  # read last, so seen
    dt = time.monotonic() - t0
    return update | {"wall_s": dt, "step_log": [{"kind": "tools", "tools_s": dt}]}


def finish(state: AgentState, w: Wiring) -> dict:
    """The episode's patch and why it ended."""
    return {"patch": workspace_diff(w.tools), "exit_reason": state.get("exit_reason") or "submitted"}


def build_graph(model, tools: SandboxTools, cfg: AgentConfig, checkpointer=None, count: Counter = approx_tokens):
    """Compile the graph for one sandbox; ``model`` is any LangChain chat model with tools;
    ``count`` counts a message's tokens (the model's tokenizer where one is at hand)."""
    w = Wiring(model, tools, cfg, count)
    g = StateGraph(AgentState)
    g.add_node("guard", lambda s: guard(s, w))
    g.add_node("model", lambda s: call_model(s, w), retry_policy=RetryPolicy(max_attempts=3, initial_interval=1.0))
    g.add_node("tools", lambda s: run_tools(s, w))
    g.add_node("finish", lambda s: finish(s, w))
    g.add_edge(START, "guard")
    g.add_conditional_edges("guard", lambda s: "finish" if s.get("exit_reason") else "model", ["model", "finish"])
    g.add_edge("model", "tools")
    g.add_edge("tools", "guard")
    g.add_edge("finish", END)
    return g.compile(checkpointer=checkpointer)
