"""A local checkpoint loaded for generation: LoRA merged, the dtype this machine runs fastest."""

from __future__ import annotations

from pathlib import Path


def load_merged(path: str | Path):
    """``(model, dtype name, tokenizer dir)``: a catalog name or directory, a ``base+adapter`` checkpoint
    merged (one adapter's matmuls folded in: generation runs at the base model's speed)."""
    from transformers import AutoModelForCausalLM

    from patchloop.llm.catalog.checkpoints import resolve_checkpoint
    from patchloop.llm.catalog.models import resolve_model_path
    from patchloop.llm.device import pick_device

    base, adapter = resolve_checkpoint(resolve_model_path(str(path)))
    device, dtype = pick_device(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model.to(device).eval()
    return model, str(dtype).removeprefix("torch."), adapter or base
