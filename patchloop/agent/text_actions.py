"""Text-action mode: one shell command in a fenced block per turn, for models whose tool
calling is weak (the way mini-swe-agent drives small models).

The model sees no tool schemas. It writes its reasoning and exactly one ```` ```bash ````
block; the command runs through the same ``run`` tool (same sandbox, budgets, approvals),
and the block ``submit`` ends the episode. Inside the agent a text action is stored as the
tool call it stands for, so checkpoints, trajectories and the RL code are the same in both
modes; only the copy sent to the model is shown as plain text turns (:func:`as_text_turns`).
A reply without a block is a format error the model reads on its next turn; of several
blocks the first runs, and the model is told the others did not.
"""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call, tool_call

from patchloop.agent.call_repair import salvage_message
from patchloop.agent.state import AgentConfig
from patchloop.llm.toolcalls.parse import new_call_id

_BLOCK = re.compile(r"```(?:bash|sh|shell|console)?[ \t]*\n(.*?)```", re.S)
SUBMIT = "submit"  # the command that ends the episode
NOTE = "patchloop_action_note"  # key in a reply's additional_kwargs: shown with the command's output


def bind(model, lc_tools: list, cfg: AgentConfig):
    """The model as the graph calls it: tools bound in ``tools`` mode, bare in ``text`` mode."""
    return model if cfg.action_mode == "text" else model.bind_tools(lc_tools)


def parse_action(text: str) -> tuple[str | None, str | None]:
    """``(command, None)`` for one fenced block; ``(first command, note)`` for several (the
    note, shown with its output, says the rest did not run); ``(None, what was wrong)``."""
    found = [b.strip() for b in _BLOCK.findall(text or "")]
    blocks = [b for b in found if b]
    if len(blocks) == 1:
        return blocks[0], None
    if len(blocks) > 1:
        # The 1.5B model writes the whole plan (edit, test, submit) in one reply; refusing it
        # made it write the same reply until its steps ran out, on every instance it did so.
        return blocks[0], (f"[only the first of your {len(blocks)} commands ran; the others did not: "
                           f"write one command per reply and read its output before the next]")
    if not found:
        unclosed = "``" + "`bash" in (text or "") or "```\n" in (text or "")
        why = "its ```bash block is never closed" if unclosed else "it has no ```bash block"
    else:
        why = "its ```bash block is empty"
    return None, (f"Format error: your reply was not run because {why}. Reply with a short thought and then "
                  f"exactly one block:\n```bash\n<one command>\n```\nWrite `{SUBMIT}` as the command when the fix is done.")


def read_reply(ai: AIMessage, tool_names, cfg: AgentConfig) -> AIMessage:
    """The model's reply with the calls it makes: salvaged tool calls in ``tools`` mode, the
    fenced command (or a format error) in ``text`` mode; a note on commands that did not run
    is kept on the reply for :func:`as_text_turns`."""
    if cfg.action_mode != "text":
        return salvage_message(ai, tool_names)
    text = ai.content if isinstance(ai.content, str) else str(ai.content)
    command, message = parse_action(text)
    if command is None:
        bad = invalid_tool_call(name=None, args=text[-300:], id=new_call_id(), error=message)
        return ai.model_copy(update={"tool_calls": [], "invalid_tool_calls": [bad]})
    call = (tool_call(name="submit", args={}, id=new_call_id()) if command == SUBMIT
            else tool_call(name="run", args={"command": command}, id=new_call_id()))
    extra = {**ai.additional_kwargs, NOTE: message} if message else ai.additional_kwargs
    return ai.model_copy(update={"tool_calls": [call], "invalid_tool_calls": [], "additional_kwargs": extra})


def as_text_turns(messages: list[AnyMessage], cfg: AgentConfig) -> list[AnyMessage]:
    """What a ``text``-mode model is sent: its own replies as written, each result as a user
    turn, no tool-call structure it was never shown."""
    if cfg.action_mode != "text":
        return messages
    out: list[AnyMessage] = []
    note = ""
    for m in messages:
        if isinstance(m, AIMessage):
            out.append(AIMessage(content=m.content, id=m.id))
            note = m.additional_kwargs.get(NOTE, "")
        elif isinstance(m, ToolMessage):
            text = m.content if isinstance(m.content, str) else str(m.content)
            shown = text if text.startswith("Format error") else f"<output>\n{text}\n</output>"
            out.append(HumanMessage(f"{note}\n{shown}" if note else shown))
            note = ""
        else:
            out.append(m)
    return out
