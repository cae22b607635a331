"""LoRA adapters loaded into a running vLLM server at run time, one name per adapter content.

This is the weight sync of on-policy training: the trainer saves its adapter after an
optimiser step, the next request names that directory, and the adapter is checked
(:func:`patchloop.llm.generation.adapters.check_adapter`), loaded under the hash of its files
and used; the previous policy's adapter is unloaded so the engine holds a bounded number.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path

from patchloop.llm.generation import GenerationError
from patchloop.llm.generation.adapters import check_adapter


class AdapterRegistry:
    """``served_name(path)``: the name to put in a request's ``model`` for that adapter."""

    def __init__(self, base_url: str, base_config: dict, keep: int = 2):
        self.base_url, self.base_config, self.keep = base_url.rstrip("/"), base_config, keep
        self._loaded: OrderedDict[str, str] = OrderedDict()  # served name -> path
        self._lock = threading.Lock()
        self.sync_s = 0.0  # seconds spent checking and loading adapters (the step-time split's "sync")

    def served_name(self, path: str) -> str:
        with self._lock:
            t0 = time.perf_counter()
            name = "lora-" + check_adapter(path, self.base_config)
            if name in self._loaded:
                self._loaded.move_to_end(name)
            else:
                self._post("load_lora_adapter", {"lora_name": name, "lora_path": str(Path(path).resolve())})
                self._loaded[name] = path
                while len(self._loaded) > self.keep:
                    old, _ = self._loaded.popitem(last=False)
                    self._post("unload_lora_adapter", {"lora_name": old})
            self.sync_s += time.perf_counter() - t0
            return name

    def _post(self, what: str, body: dict) -> None:
        import httpx

        try:
            r = httpx.post(f"{self.base_url}/v1/{what}", json=body, timeout=300)
        except httpx.HTTPError as e:
            raise GenerationError(f"vllm: {what} {body.get('lora_path', body['lora_name'])}: {type(e).__name__}") from None
        if r.status_code != 200:
            raise GenerationError(f"vllm: {what} {body.get('lora_path', body['lora_name'])}: HTTP {r.status_code}: "
                                  f"{r.text.strip()[:200]}")
