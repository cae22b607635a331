"""Token continuation: the next turn's prompt is the last turn's token ids plus the new ones.

An agent re-sends the whole conversation each turn. Rendering it afresh re-tokenizes the
model's own earlier replies from their parsed text, and the ids that come back are often not
the ids that were sampled (a BPE merge the sampler did not take, a tool call re-serialised by
the template, special tokens dropped by decoding). Training on such a prompt trains on
something the model never saw. So when a conversation only grew since the last call (the
previous messages unchanged, the reply that call returned, then tool results or a user
nudge), the prompt is built from ids alone: the previous prompt, the ids sampled for the
reply, the end-of-turn token where sampling stopped without one, and the ids of the new
messages alone, cut from the chat template's own text. Anything else (the context was
shortened, a resumed episode, another conversation) is rendered fresh.

State is keyed by the id of the reply a call returned plus a digest of the messages it was
given, so conversations that share one model object (batch threads) never see each other's
ids; a bounded LRU keeps memory flat.
"""

from __future__ import annotations

import hashlib
import json
import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage


def digest(messages: list[dict], tools: list[dict] | None) -> str:
    """A stable fingerprint of template messages and tool schemas."""
    blob = json.dumps([tools or [], messages], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class _Turn:
    prompt_digest: str  # the messages (and tools) the call was given
    ids: array  # its prompt ids followed by the ids it sampled


def new_suffix_ids(engine, messages: list[dict], reply_at: int, tools: list[dict] | None,
                   last_sampled: int | None) -> list[int] | None:
    """Ids that follow the sampled reply ``messages[reply_at]``: the end-of-turn token if
    sampling did not produce it, the template's glue after it (Qwen's ``\\n`` after
    ``<|im_end|>``), the later messages and the generation prompt. ``None`` when the
    template does not render the longer conversation as an extension of the shorter one."""
    before = engine.render_text(messages[: reply_at + 1], tools, add_generation_prompt=False)
    after = engine.render_text(messages, tools, add_generation_prompt=True)
    eot = engine.tokenizer.eos_token
    eot_id = engine.tokenizer.eos_token_id
    cut = before.rfind(eot) if eot else -1
    if not after.startswith(before) or cut < 0 or before[cut + len(eot):].strip():
        return None
    # The piece starts right after a special token, so tokenizing it alone gives the ids the
    # whole text would have there (special tokens split pre-tokenization).
    glue_and_new = before[cut + len(eot):] + after[len(before):]
    return ([] if last_sampled == eot_id else [eot_id]) + engine.encode(glue_and_new)


class Continuations:
    """The last turns of the conversations in flight, to extend by token ids."""

    def __init__(self, slots: int = 256):
        self.slots = slots
        self._turns: OrderedDict[str, _Turn] = OrderedDict()
        self._lock = threading.Lock()

    def prompt(self, engine, messages: Sequence[BaseMessage], template: list[dict],
               tools: list[dict] | None) -> tuple[list[int], bool]:
        """``(prompt ids, continued)`` for this call: continued from the turn whose reply is the
        last AI message when everything before that reply is unchanged, else rendered fresh."""
        at = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], AIMessage)), None)
        turn = None
        if at is not None and messages[at].id:
            with self._lock:
                turn = self._turns.get(messages[at].id)
                if turn is not None:
                    self._turns.move_to_end(messages[at].id)
        if turn is not None and turn.prompt_digest == digest(template[:at], tools):
            ids = turn.ids.tolist()
            suffix = new_suffix_ids(engine, template, at, tools, ids[-1] if ids else None)
            if suffix is not None:
                return ids + suffix, True
        return engine.render(template, tools), False

    def remember(self, reply_id: str, template: list[dict], tools: list[dict] | None,
                 prompt_ids: list[int], sampled_ids: list[int]) -> None:
        """Keep the turn that produced reply ``reply_id`` from ``template``."""
        turn = _Turn(digest(template, tools), array("i", [*prompt_ids, *sampled_ids]))
        with self._lock:
            self._turns[reply_id] = turn
            self._turns.move_to_end(reply_id)
            while len(self._turns) > self.slots:
                self._turns.popitem(last=False)
