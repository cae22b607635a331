"""A local model tells the run's callback handlers of each token it decodes, so `fix` can
show a live count while a slow CPU model writes (the screen stayed still for minutes)."""

from __future__ import annotations

from patchloop.agent.live_reply import LiveReply
from patchloop.llm import load_chat_model


def test_a_local_model_reports_every_decoded_token(tiny_model_dir):
    shown: list[str] = []
    chat = load_chat_model(f"hf:{tiny_model_dir}", max_tokens=12, temperature=0)
    reply = chat.invoke("hello", config={"callbacks": [LiveReply(shown.append, every=0)]})
    n = reply.usage_metadata["output_tokens"]
    assert n > 1 and len(shown) == n
    assert shown[-1].startswith(f"the model is writing: {n} tokens")


def test_without_handlers_no_token_is_reported(tiny_model_dir):
    from patchloop.llm.clients.hf import token_feed

    chat = load_chat_model(f"hf:{tiny_model_dir}", max_tokens=4)
    assert token_feed(chat.engine, None) == {}
