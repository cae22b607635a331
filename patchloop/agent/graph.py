"""The agent graph: guard -> model -> tools -> guard ... -> finish.

The guard runs before every model call, so no budget is overshot by a call it could have
foreseen. The tools node asks for approvals (interrupts) before it runs anything: a node
that hits an interrupt re-runs from its start on resume, so nothing before one may have
side effects. Every state update is plain data, checkpointed after each node.
"""

from __future__ import annotations

import time
import uuid

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage, convert_to_openai_messages
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, interrupt
from pydantic import ValidationError

from patchloop.agent import progress
from patchloop.agent.call_repair import repair_arguments
from patchloop.agent.context import Counter, approx_tokens, cap_observation, fit_context, prompt
from patchloop.agent.state import AgentConfig, AgentState
from patchloop.agent.text_actions import as_text_turns, bind, read_reply
from patchloop.agent.tools import READ_ONLY, SandboxTools, ToolError, langchain_tools
from patchloop.agent.trajectory import token_log
from patchloop.agent.window import DEFAULT_CONTEXT, reserve_tokens, schema_specs


def limit_reason(state: AgentState, cfg: AgentConfig, count: Counter = approx_tokens) -> str:
    """Why the next model call must not happen, or '' when it may. Each budget is checked
    against a forecast of the next call, so the call that would overshoot never starts."""
    steps = state.get("steps", 0)
    if steps >= cfg.max_steps:
        return "max_steps"
    # The next call re-reads the whole conversation: the last call's tokens plus what the
    # tools have added since.
    msgs = state.get("messages", [])
    last_ai = max((i for i, m in enumerate(msgs) if isinstance(m, AIMessage)), default=len(msgs))
    next_tokens = state.get("last_call_tokens", 0) + sum(count(m) for m in msgs[last_ai + 1:]) if steps else 0
    if state.get("prompt_tokens", 0) + state.get("completion_tokens", 0) + next_tokens > cfg.max_tokens:
        return "max_tokens"
    cost = state.get("cost", 0.0)
    if cfg.max_cost and steps and cost + cost / steps > cfg.max_cost:
        return "max_cost"
    model_s = [e["model_s"] for e in state.get("step_log", []) if e.get("kind") == "model"]
    if state.get("wall_s", 0.0) + (sum(model_s) / len(model_s) if model_s else 0.0) >= cfg.max_wall_s:
        return "max_wall_s"
    return ""


def retry_sampling(messages: list, model, cfg: AgentConfig) -> dict:
    """Call options for the next reply: after one the agent could not act on (no tool call, a
    format error) or one that repeats an earlier reply, ``cfg.retry_temperature`` where the
    model samples cooler. A greedy model sent the conversation with its failed reply and the
    same correction writes that reply again: in 5 of 9 greedy 10-step runs of the 1.5B model
    on the built-in instances, every step from its first repeat to the limit was a repeat."""
    at = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], AIMessage)), None)
    if at is None or not cfg.retry_temperature:
        return {}
    last = messages[at]
    if last.tool_calls and progress.repeated_step(messages[:at], last) is None:
        return {}
    own = getattr(model, "temperature", None)
    return {} if own is not None and own >= cfg.retry_temperature else {"temperature": cfg.retry_temperature}


def build_graph(model, tools: SandboxTools, cfg: AgentConfig, checkpointer=None, count: Counter = approx_tokens):
    """Compile the graph for one sandbox; ``model`` is any LangChain chat model with tools;
    ``count`` counts a message's tokens (the model's tokenizer where one is at hand)."""
    lc_tools = langchain_tools(tools)
    by_name = {t.name: t for t in lc_tools}
    specs = {s["name"]: s for s in schema_specs(lc_tools)}
    bound = bind(model, lc_tools, cfg)
    context = cfg.context_tokens or DEFAULT_CONTEXT
    reserve = reserve_tokens(list(specs.values()), cfg, count)  # schemas and reply share the window

    def fitted(state: AgentState) -> tuple[list, bool]:
        """The messages to send, and whether leaving out repeats or context fitting changed
        them from the conversation as it happened."""
        kept = progress.without_repeats(state["messages"]) if cfg.leave_out_repeats else state["messages"]
        whole = as_text_turns(kept, cfg)
        sent = fit_context(whole, context, reserve, count)
        return sent, len(kept) != len(state["messages"]) or any(a is not b for a, b in zip(sent, whole))

    def guard(state: AgentState) -> dict:
        if state.get("submitted"):
            return {"exit_reason": "submitted"}
        reason = limit_reason(state, cfg, count)
        if not reason and sum(count(m) for m in fitted(state)[0]) + reserve > context:
            reason = "context_full"  # even shortened, the task and the latest state no longer fit
        return {"exit_reason": reason} if reason else {}

    def call_model(state: AgentState) -> dict:
        t0 = time.monotonic()
        sent, cut = fitted(state)
        options = retry_sampling(state["messages"], model, cfg)
        ai = read_reply(bound.invoke(sent, **options), by_name, cfg)
        dt = time.monotonic() - t0
        usage, meta = ai.usage_metadata or {}, ai.response_metadata or {}
        pt = usage.get("input_tokens") or sum(count(m) for m in sent)
        ct = usage.get("output_tokens") or count(ai)
        log = {"kind": "model", "model_s": dt, "prompt_tokens": pt, "completion_tokens": ct,
               **token_log(meta, state.get("step_log", [])), "context_cut": cut,
               "prompt_messages": convert_to_openai_messages(sent) if cut else None, **options}
        # the prompt ids live in the step log (compactly); copies on every message would
        # make each checkpoint grow with the square of the conversation
        ai = ai.model_copy(update={"response_metadata": {k: v for k, v in meta.items() if k != "prompt_token_ids"}})
        return {"messages": [ai], "steps": 1, "prompt_tokens": pt, "completion_tokens": ct,
                "cost": float(meta.get("cost") or 0.0), "wall_s": dt, "last_call_tokens": pt + ct,
                "step_log": [log]}

    def execute(call: dict) -> str:
        tool = by_name.get(call["name"])
        if tool is None:
            return f"error: unknown tool {call['name']!r}; the tools are: {', '.join(by_name)}"
        args, notes, problem = repair_arguments(call["name"], call.get("args") or {}, specs[call["name"]].get("parameters", {}))
        notes_text = "".join(f"note: {n}.\n" for n in notes)
        if problem:
            return f"{notes_text}error: bad arguments for {call['name']}: {problem}"
        try:
            return notes_text + str(tool.invoke(args))
        except ValidationError as e:
            errs = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
            return f"error: bad arguments for {call['name']}: {errs}"
        except ToolError as e:
            return f"error: {e}"
        except (OSError, UnicodeError) as e:  # a file the model named cannot be read or written
            return f"error: {call['name']}: {type(e).__name__}: {e}"

    def run_tools(state: AgentState) -> dict:
        ai = state["messages"][-1]
        calls = list(ai.tool_calls)
        # Approvals first, before any tool runs (see the module docstring).
        decisions = [interrupt({"tool": c["name"], "args": c["args"]})
                     if cfg.approve == "ask" and c["name"] not in READ_ONLY and c["name"] in by_name else True
                     for c in calls]
        t0 = time.monotonic()
        out: list = []
        for call, ok in zip(calls, decisions):
            if ok is True:
                text = execute(call)
            else:
                text = "The user declined this call." + (f" They said: {ok}" if isinstance(ok, str) else "")
            out.append(ToolMessage(cap_observation(text, cfg.observation_chars),
                                   tool_call_id=call.get("id") or f"call_{uuid.uuid4().hex[:8]}", name=call["name"]))
        for bad in ai.invalid_tool_calls:
            text = bad["error"] if cfg.action_mode == "text" else (f"error: malformed call to {bad.get('name') or 'a tool'}: {bad.get('error') or 'arguments are not valid JSON'}."
                    " Call the tool again with valid JSON arguments.")
            out.append(ToolMessage(text, tool_call_id=bad["id"], name=bad.get("name") or "invalid")
                       if bad.get("id") else HumanMessage(text))
        if not out:
            out.append(HumanMessage(prompt(cfg.prompt_version, "no_tool_call", tools=", ".join(by_name))))
        update = {"messages": out, "submitted": tools.submitted}
        if any(c["name"] not in READ_ONLY for c in calls):
            update["patch"] = tools._diff()  # what a resume re-applies to a fresh workspace
        if note := progress.step_notes(state["messages"][:-1], ai, state.get("patch", ""), update.get("patch")):
            out[-1] = out[-1].model_copy(update={"content": f"{out[-1].content}\n{note}"})  # read last, so seen
        dt = time.monotonic() - t0
        return update | {"wall_s": dt, "step_log": [{"kind": "tools", "tools_s": dt}]}

    def finish(state: AgentState) -> dict:
        return {"patch": tools._diff(), "exit_reason": state.get("exit_reason") or "submitted"}

    g = StateGraph(AgentState)
    g.add_node("guard", guard)
    g.add_node("model", call_model, retry_policy=RetryPolicy(max_attempts=3, initial_interval=1.0))
    g.add_node("tools", run_tools)
    g.add_node("finish", finish)
    g.add_edge(START, "guard")
    g.add_conditional_edges("guard", lambda s: "finish" if s.get("exit_reason") else "model", ["model", "finish"])
    g.add_edge("model", "tools")
    g.add_edge("tools", "guard")
    g.add_edge("finish", END)
    return g.compile(checkpointer=checkpointer)
