"""Fit an episode to the window the model really has.

``AgentConfig.context_tokens`` left unset means: ask the backend (``patchloop.llm.window``:
``max_model_len`` from ``/v1/models``, a local checkpoint's config); a value the user set
is kept unless the backend reports less, because a window cannot be wished larger. The
opening message is then built to fit: the repository outline shrinks (then goes), then the
source of the code the issue names goes, before the issue is cut, and observations are
capped to a share of the window, so a 4,096-token model gets a shorter prompt instead of
HTTP 400 on every instance.
"""

from __future__ import annotations

import json

from langchain_core.messages import HumanMessage, SystemMessage

from patchloop.agent.context import Counter, counter, prompt
from patchloop.agent.state import AgentConfig
from patchloop.sandbox.base import cap_text
from patchloop.types import Task

DEFAULT_CONTEXT = 32_000  # when neither the user nor the backend says
TEMPLATE_TOKENS = 150  # what a chat template adds around the tool schemas
OPENING_SHARE = 0.6  # of the room left after the reserve: the rest is for the work itself
MIN_MAP_TOKENS = 120  # an outline smaller than this says nothing; leave it out instead


def fit_to_model(model, cfg: AgentConfig) -> tuple[AgentConfig, Counter, str]:
    """The config with the model's real window filled in, the message counter to use, and a
    line saying where the window came from (for the log and the trajectory)."""
    from patchloop.llm.window import model_window

    win = model_window(model)
    context, where = cfg.context_tokens, "set by the user"
    if win.context and (context is None or win.context < context):
        where = win.source if context is None else f"{win.source} (less than the {context} asked for)"
        context = win.context
    elif context is None:
        context, where = DEFAULT_CONTEXT, f"default ({win.source})"
    room = max(256, context - cfg.completion_tokens)
    update = {"context_tokens": context, "observation_chars": min(cfg.observation_chars, max(600, room * 3 // 4))}
    tokens = "the model's tokenizer" if win.count else "estimated at 3 characters"
    return cfg.model_copy(update=update), counter(win.count), f"context {context} tokens, {where}; tokens {tokens}"


def reserve_tokens(specs: list[dict], cfg: AgentConfig, count: Counter) -> int:
    """What the tool schemas and the reply take from the window before the conversation."""
    if cfg.action_mode == "text":  # no schemas are sent
        return cfg.completion_tokens + 16
    schemas = HumanMessage(json.dumps(specs))
    return count(schemas) + TEMPLATE_TOKENS + cfg.completion_tokens


def opening_messages(task: Task, tools, cfg: AgentConfig, count: Counter, reserve: int) -> list:
    """The system prompt and the task with a repository outline ranked for the issue and the
    code the issue names, made to fit ``OPENING_SHARE`` of the window: the outline shrinks
    first, the named code goes next, the issue is cut last."""
    budget = int((cfg.context_tokens - reserve) * OPENING_SHARE)
    map_tokens = cfg.repo_map_tokens
    issue = task.problem_statement.strip()
    focus = tools._focus(cfg.focus_tokens)
    while True:
        outline = tools.repo_map() if map_tokens >= MIN_MAP_TOKENS else "(left out to fit the model's context)"
        msgs = _opening(task, tools, cfg, issue, outline, focus)
        used = sum(count(m) for m in msgs)
        if used <= budget:
            return msgs
        if map_tokens >= MIN_MAP_TOKENS:
            map_tokens = map_tokens // 2 if map_tokens // 2 >= MIN_MAP_TOKENS else 0
            tools._cfg = tools._cfg.model_copy(update={"repo_map_tokens": map_tokens})
            continue
        if focus:  # then the named code: the model can still view it
            focus = ""
            continue
        over = used - budget
        keep = max(400, len(issue) - 4 * over)  # a token is at least ~3-4 characters of English
        if keep >= len(issue):
            return msgs  # nothing left to cut; the guard reports context_full if it cannot work
        issue = cap_text(issue, keep)[0] + "\n[issue text shortened to fit the model's context]"


def _opening(task: Task, tools, cfg: AgentConfig, issue: str, outline: str, focus: str) -> list:
    named = f"\nCode the issue names (as `view` shows it):\n{focus}\n" if focus else ""
    text = prompt(cfg.prompt_version, "task", repo=task.repo or task.instance_id, workdir=tools._sb.workdir,
                  problem_statement=issue, repo_map=outline, focus=named)
    return [SystemMessage(system_prompt(cfg)), HumanMessage(text)]


def system_prompt(cfg: AgentConfig) -> str:
    """``system.md`` (tool calling) or ``system_text.md``, plus the versioned demonstration."""
    mode = "text" if cfg.action_mode == "text" else "tools"
    text = prompt(cfg.prompt_version, "system_text" if mode == "text" else "system")
    return text + ("\n\n" + prompt(cfg.prompt_version, f"demo_{mode}") if cfg.demonstrations else "")


def schema_specs(lc_tools) -> list[dict]:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    return [convert_to_openai_tool(t)["function"] for t in lc_tools]
