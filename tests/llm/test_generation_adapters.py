"""Adapters are checked before an engine sees them: truncated, foreign or not LoRA is refused
with one line; content decides the name, so new weights are a new adapter."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from patchloop.llm.generation import GenerationError
from patchloop.llm.generation.adapters import check_adapter

BASE = {"hidden_size": 16, "num_hidden_layers": 2}


def adapter(tmp_path, *, hidden=16, layer=0, scale=1.0, name="a"):
    d = tmp_path / name
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    pre = f"base_model.model.model.layers.{layer}.self_attn"
    save_file({f"{pre}.q_proj.lora_A.weight": np.ones((4, hidden), np.float32),
               f"{pre}.q_proj.lora_B.weight": np.full((hidden, 4), scale, np.float32),
               f"{pre}.v_proj.lora_A.weight": np.ones((4, hidden), np.float32),      # GQA: B writes fewer rows
               f"{pre}.v_proj.lora_B.weight": np.full((4, 4), scale, np.float32)}, str(d / "adapter_model.safetensors"))
    return d


def test_a_sound_adapter_has_a_name_that_changes_with_its_weights(tmp_path):
    a = check_adapter(adapter(tmp_path, name="a"), BASE)
    assert a == check_adapter(adapter(tmp_path, name="a2"), BASE)
    assert a != check_adapter(adapter(tmp_path, name="b", scale=2.0), BASE)


def test_a_truncated_adapter_is_refused(tmp_path):
    d = adapter(tmp_path)
    w = d / "adapter_model.safetensors"
    w.write_bytes(w.read_bytes()[:-8])
    with pytest.raises(GenerationError, match="truncated"):
        check_adapter(d, BASE)


def test_an_adapter_for_another_model_is_refused(tmp_path):
    with pytest.raises(GenerationError, match="hidden size 16"):
        check_adapter(adapter(tmp_path, hidden=24, name="wide"), BASE)
    with pytest.raises(GenerationError, match="layer 5"):
        check_adapter(adapter(tmp_path, layer=5, name="deep"), BASE)


@pytest.mark.parametrize("breakage,match", [
    (lambda d: (d / "adapter_config.json").write_text("{not json"), "not JSON"),
    (lambda d: (d / "adapter_config.json").write_text('{"peft_type": "IA3"}'), "not LORA"),
    (lambda d: (d / "adapter_model.safetensors").unlink(), "not a PEFT adapter"),
    (lambda d: (d / "adapter_model.safetensors").write_bytes(b"\xff" * 40), "truncated or not safetensors"),
])
def test_broken_adapter_files_get_one_line_naming_the_cause(tmp_path, breakage, match):
    d = adapter(tmp_path)
    breakage(d)
    with pytest.raises(GenerationError, match=match) as e:
        check_adapter(d, BASE)
    assert "\n" not in str(e.value)
