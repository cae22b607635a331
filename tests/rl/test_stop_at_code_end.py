"""GRPO's completions end at the fence that closes their code block, with the end-of-turn
token (a finished reply, not a cut), through the same ``generate`` call TRL makes."""

from __future__ import annotations

import types

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

from patchloop.llm.stopping import EndAfterCodeBlock
from patchloop.rl.grpo import _ending_after_code_block

REPLY = "Here it is:\n```python\ndef f(x):\n    return x + 1\n```"


class Scripted:
    """Forces the tokens of a reply, one per step, then leaves the model free."""

    def __init__(self, ids: list[int], width: int):
        self.ids, self.width = ids, width

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.width
        if step < len(self.ids):
            scores[:, :] = float("-inf")
            scores[:, self.ids[step]] = 0.0
        return scores


@pytest.fixture(scope="module")
def tiny(tiny_model):
    return AutoModelForCausalLM.from_pretrained(tiny_model).eval(), AutoTokenizer.from_pretrained(tiny_model)


def _generate(model, tok, extra=()):
    prompt = tok("Write f.", return_tensors="pt")["input_ids"]
    script = tok(REPLY, add_special_tokens=False)["input_ids"]
    procs = LogitsProcessorList([Scripted(script, prompt.shape[1]), *extra])
    with torch.no_grad():
        out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                             max_new_tokens=len(script) + 12, logits_processor=procs, pad_token_id=0,
                             eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"))
    return out[0, prompt.shape[1]:].tolist(), script


def test_the_row_ends_with_the_end_token_right_after_the_closing_fence(tiny):
    model, tok = tiny
    end = tok.convert_tokens_to_ids("<|im_end|>")
    new, script = _generate(model, tok, [EndAfterCodeBlock(tok, end)])
    assert new == script + [end]
    free, _ = _generate(model, tok)  # without it the untrained model goes on past the block
    assert len(free) > len(script) + 1


def test_grpo_wraps_generate_for_one_round_and_unwraps_after(tiny):
    model, tok = tiny
    end = tok.convert_tokens_to_ids("<|im_end|>")
    trainer = types.SimpleNamespace(model=model, processing_class=tok,
                                    accelerator=types.SimpleNamespace(unwrap_model=lambda m: m))
    with _ending_after_code_block(trainer):
        new, script = _generate(model, tok)
    assert new == script + [end]
    assert "generate" not in vars(model)  # the class's own method again
    after, _ = _generate(model, tok)
    assert len(after) > len(script) + 1
