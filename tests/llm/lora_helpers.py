"""A real PEFT LoRA adapter for the tiny model, with chosen weights, for engine tests."""

from __future__ import annotations

from pathlib import Path


def save_lora(model_dir, out: Path, *, scale: float, seed: int = 0, rank: int = 8) -> Path:
    """An adapter over ``model_dir`` whose B matrices are ``scale`` times seeded noise
    (``scale=0``: exactly the base model). Saved as ``trainer.save_model`` saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=rank, target_modules=["q_proj", "v_proj", "o_proj"]))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * scale)
    peft.save_pretrained(out)
    return Path(out)
