"""Merged weights pushed into a running vLLM server: the on-policy weight sync for a CPU engine.

vLLM's LoRA on a CPU runs its torch fallback ops, which gather a copy of the adapter for every
token in the batch: a GRPO step's 32 replies with the step's adapter sampled at under a tenth of
the base model's speed (docs/engines.md). So a trainer with such an engine merges its adapter
into the base weights after each optimiser step (``merged_weights``: ``W + scale * B @ A`` in
float32, the trainer's own weights untouched, unlike PEFT's merge-and-unmerge, which drifts in
bf16), writes them once, and the server reloads them in place (``reload_weights`` through
vLLM's development RPC, which patchloop's servers enable on 127.0.0.1 only), then drops its
prefix cache so no prompt reuses keys and values computed under the old weights. Requests then
name no adapter: the base *is* the policy.
"""

from __future__ import annotations

from pathlib import Path

from patchloop.llm.generation import GenerationError

PEFT_PREFIX = "base_model.model."


def merged_weights(model, dtype) -> dict:
    """The checkpoint-named tensors of a PEFT LoRA ``model`` with its active adapter merged."""
    import torch
    from peft.tuners.lora import LoraLayer

    merged: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, LoraLayer) and hasattr(module, "base_layer"):
                adapter = module.active_adapters[0]
                base = module.base_layer.weight
                delta = module.get_delta_weight(adapter).to(torch.float32)
                merged[_checkpoint_name(name) + ".weight"] = (base.float() + delta).to(dtype).contiguous()
        for name, param in model.named_parameters():
            if "lora_" in name:
                continue
            key = _checkpoint_name(name.replace(".base_layer.", "."))
            if key not in merged:
                merged[key] = param.detach().to(dtype).contiguous().clone()
    return merged


def _checkpoint_name(name: str) -> str:
    return name.removeprefix(PEFT_PREFIX)


def save_merged(model, out_dir: str | Path, dtype) -> Path:
    """``merged_weights`` written as ``model.safetensors`` in ``out_dir``."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(merged_weights(model, dtype), str(out / "model.safetensors"))
    return out


class WeightPusher:
    """``push(dir)``: the server at ``base_url`` reloads its weights from ``dir`` in place."""

    def __init__(self, base_url: str, dtype: str):
        self.base_url, self.dtype = base_url.rstrip("/"), dtype

    def push(self, weights_dir: str | Path) -> None:
        self._post("collective_rpc", {"method": "reload_weights",
                                      "kwargs": {"weights_path": str(Path(weights_dir).resolve())}})
        self._post("reset_prefix_cache", None)

    def _post(self, what: str, body: dict | None) -> None:
        import httpx

        try:
            r = httpx.post(f"{self.base_url}/{what}", json=body, timeout=600)
        except httpx.HTTPError as e:
            raise GenerationError(f"vllm: {what}: {type(e).__name__}") from None
        if r.status_code != 200:
            raise GenerationError(f"vllm: {what}: HTTP {r.status_code}: {r.text.strip()[:200]}")
