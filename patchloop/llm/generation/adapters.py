"""LoRA adapters checked before an engine sees them, and named by what they hold.

An adapter directory is untrusted input: a run killed while saving leaves a truncated
``adapter_model.safetensors``; a user can point at an adapter trained for another model. An
engine given either fails late and obscurely (vLLM kills its worker on a shape mismatch), so
both are refused here with one line. Only the safetensors header is read: no tensor is loaded.

An adapter's engine-side name is the hash of its files, so after an optimiser step the new
weights get a new name and the engine samples from them, never from a stale cached copy.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

from patchloop.llm.generation import GenerationError

_LAYER = re.compile(r"\.layers\.(\d+)\.")


def check_adapter(path: str | Path, base_config: dict | None = None) -> str:
    """The adapter's fingerprint (16 hex digits); :class:`GenerationError` naming the cause
    when it is not a complete PEFT LoRA adapter for a model with ``base_config``."""
    d = Path(path)
    cfg_file, weights = d / "adapter_config.json", d / "adapter_model.safetensors"
    if not d.is_dir() or not cfg_file.is_file() or not weights.is_file():
        raise GenerationError(f"adapter {d}: not a PEFT adapter directory (adapter_config.json and "
                              "adapter_model.safetensors)")
    try:
        cfg = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GenerationError(f"adapter {d}: adapter_config.json is not JSON ({e})") from None
    if str(cfg.get("peft_type", "")).upper() != "LORA":
        raise GenerationError(f"adapter {d}: peft_type is {cfg.get('peft_type')!r}, not LORA")
    shapes = _safetensors_shapes(weights)
    if base_config:
        _check_fits(d, shapes, base_config)
    h = hashlib.sha256(cfg_file.read_bytes())
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise GenerationError(f"adapter {path}: truncated (no safetensors header)")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100 << 20):
            raise GenerationError(f"adapter {path}: truncated or not safetensors (header of {n} bytes)")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GenerationError(f"adapter {path}: safetensors header is not JSON") from None
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    if 8 + n + end != size:
        raise GenerationError(f"adapter {path}: truncated ({size} bytes, the header says {8 + n + end})")
    if not any("lora_A" in k for k in tensors) or not any("lora_B" in k for k in tensors):
        raise GenerationError(f"adapter {path}: holds no LoRA weights (lora_A/lora_B)")
    return {k: list(v["shape"]) for k, v in tensors.items()}


def _check_fits(d: Path, shapes: dict[str, list[int]], base: dict) -> None:
    """Each LoRA pair reads or writes the base model's hidden size (A's input or B's output:
    true of every projection of a transformer block), on a layer the model has."""
    hidden, layers = base.get("hidden_size"), base.get("num_hidden_layers")
    for name, shape in shapes.items():
        if "lora_A" not in name:
            continue
        m = _LAYER.search(name)
        if layers and m and int(m.group(1)) >= int(layers):
            raise GenerationError(f"adapter {d}: {name} is for layer {m.group(1)}; the model has {layers} "
                                  "(an adapter for another model)")
        b_shape = shapes.get(name.replace("lora_A", "lora_B"), [0, 0])
        if hidden and "embed" not in name and len(shape) == 2 and int(hidden) not in (shape[1], b_shape[0]):
            raise GenerationError(f"adapter {d}: {name} has shape {shape} (B {b_shape}), which does not fit "
                                  f"the model's hidden size {hidden} (an adapter for another model)")
