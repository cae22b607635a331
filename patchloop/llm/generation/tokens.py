"""Prompt rendering shared by every engine, so each is fed the identical token ids."""

from __future__ import annotations

from typing import Any


def load_tokenizer(model_dir: str):
    """The checkpoint's own tokenizer (a LoRA directory's, where it carries one)."""
    from transformers import AutoTokenizer

    from patchloop.llm.quiet import quiet_libraries

    quiet_libraries()
    return AutoTokenizer.from_pretrained(model_dir)


def render_prompt(tokenizer, prompt: Any) -> list[int]:
    """A text prompt as is, a chat message list through the model's chat template, as ids."""
    if isinstance(prompt, list):
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    else:
        text = str(prompt)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
