"""Which device and dtype a local model runs in, from what the processor can do.

On CPUs with AMX (recent Xeons), bfloat16 matmuls run on tile hardware and decode several
times faster than float32 (measured in ``bench/inference.py``). AVX-512-BF16 alone is not
enough: on such a Xeon (AMX not exposed) the 1.5B model prefilled at 0.72x and decoded 32
rows at 0.79x of float32's rate in bf16, gaining only on one to eight rows (1.1-1.6x;
``bench/cpu_dtype.py``). Serving batches and training are the compute-bound kind, so without
AMX float32 is the CPU default. ``PATCHLOOP_DEVICE`` and ``PATCHLOOP_DTYPE`` override the
choice (e.g. to reproduce float32 results).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

BF16_CPU_FLAGS = ("amx_bf16",)


@functools.cache
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_has_fast_bf16() -> bool:
    return any(f in cpu_flags() for f in BF16_CPU_FLAGS)


def checkpoint_dtype(path: str | Path) -> str | None:
    """The dtype a checkpoint was saved in (``config.json``), if it says."""
    import json

    try:
        cfg = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = cfg.get("dtype") or cfg.get("torch_dtype")
    return value if isinstance(value, str) else None


def best_dtype_name(device: str, saved: str | None = None) -> str:
    """The dtype to run a checkpoint saved in ``saved`` on ``device``.

    CUDA: bfloat16 (float16 without bf16 support). CPU: bfloat16 when the processor has AMX
    bf16 tiles and the checkpoint itself is bfloat16 (real released models are); a float32
    checkpoint (the tiny test model) stays float32, where bf16 would only cost precision."""
    forced = os.environ.get("PATCHLOOP_DTYPE", "").strip().lower()
    if forced in ("float32", "bfloat16", "float16"):
        return forced
    if device == "cuda":
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cpu_has_fast_bf16() and saved == "bfloat16" else "float32"


def pick_device(path: str | Path | None = None) -> tuple[str, Any]:
    """``(device, torch dtype)`` to run the checkpoint at ``path``: CUDA where present, else the CPU."""
    import torch

    forced = os.environ.get("PATCHLOOP_DEVICE", "").strip().lower()
    device = "cuda" if torch.cuda.is_available() and forced != "cpu" else "cpu"
    return device, getattr(torch, best_dtype_name(device, checkpoint_dtype(path) if path else None))
