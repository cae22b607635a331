"""HFChatModel on real local checkpoints: tool calls, usage, token ids and logprobs, LoRA."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from patchloop.llm import LLMError, load_chat_model
from tests.llm.conftest import PROMPT, TOOLS

pytestmark = pytest.mark.train


def test_tool_call_from_real_generation_is_parsed(tool_model_dir):
    model = load_chat_model(f"hf:{tool_model_dir}", temperature=0, max_tokens=40).bind_tools(TOOLS)
    msg = model.invoke([HumanMessage(PROMPT[0]["content"])])
    assert isinstance(msg, AIMessage)
    assert [(c["name"], c["args"]) for c in msg.tool_calls] == [("run", {"cmd": "ls"})]
    assert msg.invalid_tool_calls == [] and msg.content == ""
    meta = msg.response_metadata
    assert meta["finish_reason"] == "stop"
    assert msg.usage_metadata["output_tokens"] == len(meta["token_ids"]) == len(meta["logprobs"])
    assert msg.usage_metadata["total_tokens"] == msg.usage_metadata["input_tokens"] + len(meta["token_ids"])


def test_logprobs_are_the_models_own_and_prompt_usage_is_exact(tiny_model_dir):
    import torch

    from patchloop.llm.serving.local import get_local_model

    chat = load_chat_model(f"hf:{tiny_model_dir}", temperature=1.0, max_tokens=12, seed=3).bind_tools(TOOLS)
    conversation = [
        HumanMessage("hi"),
        AIMessage("", tool_calls=[{"name": "run", "args": {"cmd": "ls"}, "id": "c1"}]),
        ToolMessage("a.py", tool_call_id="c1"),
    ]
    msg = chat.invoke(conversation)
    engine = get_local_model(str(tiny_model_dir))
    from patchloop.llm.clients.hf import to_template_messages

    prompt = engine.render(to_template_messages(conversation), TOOLS)
    assert msg.usage_metadata["input_tokens"] == len(prompt)
    ids = msg.response_metadata["token_ids"]
    assert len(ids) == 12 and msg.response_metadata["finish_reason"] == "length"
    # Re-score the sampled tokens with one forward pass: the logprobs must match.
    with torch.no_grad():
        logits = engine.model(torch.tensor([prompt + ids])).logits[0, len(prompt) - 1 : -1]
    expected = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids)[:, None])[:, 0]
    assert torch.allclose(torch.tensor(msg.response_metadata["logprobs"]), expected, atol=1e-3)
    # Same seed, same sample.
    assert chat.invoke(conversation).response_metadata["token_ids"] == ids


def test_lora_adapter_loads_and_changes_outputs(tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    # Random B (not the usual zeros) so the untrained adapter already changes the outputs.
    peft_model = get_peft_model(base, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM", init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "lora")

    greedy = {"temperature": 0, "max_tokens": 8}
    plain = load_chat_model(f"hf:{tiny_model_dir}", **greedy)
    adapted = load_chat_model(f"hf:{tiny_model_dir}+{tmp_path / 'lora'}", **greedy)
    from peft import PeftModel

    assert isinstance(adapted.engine.model, PeftModel)
    a = plain.invoke("write a function").response_metadata
    b = adapted.invoke("write a function").response_metadata
    assert a["token_ids"] != b["token_ids"] or a["logprobs"] != b["logprobs"]


def test_missing_paths_and_too_long_prompts_are_one_line_errors(tiny_model_dir, tmp_path):
    with pytest.raises(LLMError, match="model path not found: /no/such/model"):
        load_chat_model("hf:/no/such/model")
    with pytest.raises(LLMError, match="LoRA adapter path not found"):
        load_chat_model(f"hf:{tiny_model_dir}+{tmp_path / 'nope'}")
    with pytest.raises(LLMError, match="bad model spec"):
        load_chat_model("llama:x")
    chat = load_chat_model(f"hf:{tiny_model_dir}", max_tokens=4)
    with pytest.raises(LLMError, match=r"prompt is \d+ tokens but .* holds at most 4096") as e:
        chat.invoke("x " * 5000)
    assert "\n" not in str(e.value)
