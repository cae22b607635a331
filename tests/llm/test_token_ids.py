"""Token-exact turns on the ``hf:`` backend: the prompt ids the model was fed come back, and a
conversation that only grew is extended by ids (the sampled ids kept as sampled), never
re-tokenized from text."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.messages import HumanMessage, ToolMessage

from patchloop.llm import load_chat_model
from patchloop.llm.clients.hf import to_template_messages
from tests.llm.conftest import PROMPT, TOOLS

pytestmark = pytest.mark.train


def _recording(chat) -> list[list[int]]:
    """Record the prompt ids each ``generate`` call is given (what the model consumed)."""
    engine = chat.engine
    seen: list[list[int]] = []
    inner = engine.generate

    def generate(prompt_ids, **kw):
        seen.append(list(prompt_ids))
        return inner(prompt_ids, **kw)

    engine.generate = generate
    return seen


def test_second_turn_prompt_is_first_prompt_plus_sampled_ids_exactly(tiny_model_dir):
    chat = load_chat_model(f"hf:{tiny_model_dir}", temperature=1.0, max_tokens=20, seed=1)
    fed = _recording(chat)
    bound = chat.bind_tools(TOOLS)
    first = [HumanMessage("list the files")]
    a1 = bound.invoke(first)
    m1 = a1.response_metadata
    assert m1["continued"] is False and m1["prompt_token_ids"] == fed[0]
    second = [*first, a1, HumanMessage("Call a tool.")]
    m2 = bound.invoke(second).response_metadata
    p1, s1, p2 = m1["prompt_token_ids"], m1["token_ids"], m2["prompt_token_ids"]
    assert m2["continued"] is True and p2 == fed[1]
    assert p2[: len(p1) + len(s1)] == p1 + s1
    tok = chat.engine.tokenizer
    # Sampling stopped on the length limit, so the end-of-turn token is added (not sampled),
    # then the template's glue, the nudge and the generation prompt.
    assert tok.decode(p2[len(p1) + len(s1):]) == (
        "<|im_end|>\n<|im_start|>user\nCall a tool.<|im_end|>\n<|im_start|>assistant\n")
    # What re-rendering (or decoding and re-encoding) would have fed instead differs.
    assert tok.encode(tok.decode(s1), add_special_tokens=False) != s1
    assert chat.engine.render(to_template_messages(second), TOOLS) != p2


def test_tool_results_follow_a_sampled_end_of_turn_with_the_templates_glue(tool_model_dir):
    chat = load_chat_model(f"hf:{tool_model_dir}", temperature=0, max_tokens=40)
    bound = chat.bind_tools(TOOLS)
    a1 = bound.invoke(PROMPT[0]["content"])
    [call] = a1.tool_calls
    m1 = a1.response_metadata
    eot = chat.engine.tokenizer.eos_token_id
    assert m1["finish_reason"] == "stop" and m1["token_ids"][-1] == eot  # the model closed its turn
    convo = [HumanMessage(PROMPT[0]["content"]), a1, ToolMessage("a.py\nb.py", tool_call_id=call["id"])]
    m2 = bound.invoke(convo).response_metadata
    new = m2["prompt_token_ids"][len(m1["prompt_token_ids"]) + len(m1["token_ids"]):]
    assert m2["continued"] is True and new[0] != eot  # no second end-of-turn token
    assert chat.engine.tokenizer.decode(new) == (
        "\n<|im_start|>user\n<tool_response>\na.py\nb.py\n</tool_response><|im_end|>\n<|im_start|>assistant\n")


def test_a_changed_history_is_rendered_fresh(tiny_model_dir):
    chat = load_chat_model(f"hf:{tiny_model_dir}", temperature=1.0, max_tokens=8, seed=2)
    a1 = chat.invoke([HumanMessage("hello")])
    # the earlier user message was shortened (as context fitting does): no continuation
    changed = [HumanMessage("hel"), a1, HumanMessage("again")]
    m = chat.invoke(changed).response_metadata
    assert m["continued"] is False
    assert m["prompt_token_ids"] == chat.engine.render(to_template_messages(changed))
    # a copy of the reply without its id (a shortened copy) is not continued either
    copy = a1.model_copy(update={"id": None})
    assert chat.invoke([HumanMessage("hello"), copy, HumanMessage("x")]).response_metadata["continued"] is False
    # with continuation off, every prompt is rendered
    plain = load_chat_model(f"hf:{tiny_model_dir}", temperature=1.0, max_tokens=8, seed=2, continue_tokens=False)
    b1 = plain.invoke([HumanMessage("hello")])
    convo = [HumanMessage("hello"), b1, HumanMessage("again")]
    m = plain.invoke(convo).response_metadata
    assert m["continued"] is False and m["prompt_token_ids"] == plain.engine.render(to_template_messages(convo))


def test_conversations_sharing_one_model_across_threads_continue_their_own_ids(tiny_model_dir):
    chat = load_chat_model(f"hf:{tiny_model_dir}", temperature=1.0, max_tokens=6)

    def episode(name: str) -> list[dict]:
        convo: list = [HumanMessage(f"task {name}")]
        metas = []
        for turn in range(3):
            reply = chat.invoke(convo)
            metas.append(reply.response_metadata)
            convo += [reply, HumanMessage(f"{name} turn {turn}")]
        return metas

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(episode, ["alpha", "beta", "gamma", "delta"]))
    for name, metas in zip(["alpha", "beta", "gamma", "delta"], runs):
        assert [m["continued"] for m in metas] == [False, True, True]
        for before, after in zip(metas, metas[1:]):
            head = before["prompt_token_ids"] + before["token_ids"]
            assert after["prompt_token_ids"][: len(head)] == head
        assert f"task {name}" in chat.engine.tokenizer.decode(metas[-1]["prompt_token_ids"])
