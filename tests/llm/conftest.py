"""Fixtures for the LLM tests.

``tiny_model_dir`` is the untrained model ``init-tiny`` builds. ``tool_model_dir`` is that
model fine-tuned (plain torch, a few dozen steps) to answer one prompt with one tool call,
so the tool-call path is exercised end to end with real generation, not a scripted fake.
"""

from __future__ import annotations

import pytest

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "run",
            "description": "Run a shell command.",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
        },
    }
]
PROMPT = [{"role": "user", "content": "list the files"}]
TARGET = '<tool_call>{"name": "run", "arguments": {"cmd": "ls"}}</tool_call>'


def user_prompt(engine, text: str) -> list[int]:
    """The chat-template token ids of one user message."""
    return engine.render([{"role": "user", "content": text}])


@pytest.fixture(scope="module")
def tiny_engine(tiny_model_dir):
    """The tiny model loaded for generation (one per module: tests clear its prefix cache)."""
    from patchloop.llm.serving.local import LocalModel

    return LocalModel(str(tiny_model_dir))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from patchloop.llm.catalog.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def tool_model_dir(tiny_model_dir, tmp_path_factory):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompt = list(tok.apply_chat_template(PROMPT, tools=TOOLS, add_generation_prompt=True, return_dict=True)["input_ids"])
    target = tok(TARGET + "<|im_end|>", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + target])
    labels = ids.clone()
    labels[0, : len(prompt)] = -100  # learn the answer, not the prompt
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(150):
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if loss.item() < 0.03:
            break
    model.eval()
    out = model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=40, do_sample=False)
    assert tok.decode(out[0, len(prompt):], skip_special_tokens=True) == TARGET, "fixture failed to fit"
    d = tmp_path_factory.mktemp("toolmodel") / "model"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d
