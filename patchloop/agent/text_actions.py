"""Text-action mode: one shell command in a fenced block per turn, for models whose tool
calling is weak (the way mini-swe-agent drives small models).

The model sees no tool schemas. It writes its reasoning and exactly one ```` ```bash ````
block; the command runs through the same ``run`` tool (same sandbox, budgets, approvals),
and the block ``submit`` ends the episode. Inside the agent a text action is stored as the
tool call it stands for, so checkpoints, trajectories and the RL code are the same in both
modes; only the copy sent to the model is shown as plain text turns (:func:`as_text_turns`).
A reply without exactly one block is a format error the model reads on its next turn.
"""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call, tool_call

from patchloop.agent.call_repair import salvage_message
from patchloop.agent.state import AgentConfig
from patchloop.llm.toolcalls import new_call_id

_BLOCK = re.compile(r"```(?:bash|sh|shell|console)?[ \t]*\n(.*?)```", re.S)
SUBMIT = "submit"  # the command that ends the episode


def bind(model, lc_tools: list, cfg: AgentConfig):
    """The model as the graph calls it: tools bound in ``tools`` mode, bare in ``text`` mode."""
    return model if cfg.action_mode == "text" else model.bind_tools(lc_tools)


def parse_action(text: str) -> tuple[str | None, str | None]:
    """``(command, None)`` for exactly one fenced block, else ``(None, what was wrong)``."""
    blocks = [b.strip() for b in _BLOCK.findall(text or "")]
    if len(blocks) == 1 and blocks[0]:
        return blocks[0], None
    if not blocks:
        unclosed = "``" + "`bash" in (text or "") or "```\n" in (text or "")
        why = "its ```bash block is never closed" if unclosed else "it has no ```bash block"
    elif len(blocks) > 1:
        why = f"it has {len(blocks)} ```bash blocks; write exactly one command per reply"
    else:
        why = "its ```bash block is empty"
    return None, (f"Format error: your reply was not run because {why}. Reply with a short thought and then "
                  f"exactly one block:\n```bash\n<one command>\n```\nWrite `{SUBMIT}` as the command when the fix is done.")


def read_reply(ai: AIMessage, tool_names, cfg: AgentConfig) -> AIMessage:
    """The model's reply with the calls it makes: salvaged tool calls in ``tools`` mode, the
    one fenced command (or a format error) in ``text`` mode."""
    if cfg.action_mode != "text":
        return salvage_message(ai, tool_names)
    text = ai.content if isinstance(ai.content, str) else str(ai.content)
    command, error = parse_action(text)
    if error:
        bad = invalid_tool_call(name=None, args=text[-300:], id=new_call_id(), error=error)
        return ai.model_copy(update={"tool_calls": [], "invalid_tool_calls": [bad]})
    call = (tool_call(name="submit", args={}, id=new_call_id()) if command == SUBMIT
            else tool_call(name="run", args={"command": command}, id=new_call_id()))
    return ai.model_copy(update={"tool_calls": [call], "invalid_tool_calls": []})


def as_text_turns(messages: list[AnyMessage], cfg: AgentConfig) -> list[AnyMessage]:
    """What a ``text``-mode model is sent: its own replies as written, each result as a user
    turn, no tool-call structure it was never shown."""
    if cfg.action_mode != "text":
        return messages
    out: list[AnyMessage] = []
    for m in messages:
        if isinstance(m, AIMessage):
            out.append(AIMessage(content=m.content, id=m.id))
        elif isinstance(m, ToolMessage):
            text = m.content if isinstance(m.content, str) else str(m.content)
            out.append(HumanMessage(text if text.startswith("Format error") else f"<output>\n{text}\n</output>"))
        else:
            out.append(m)
    return out
