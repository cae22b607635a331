"""A local ``transformers`` checkpoint (+ optional PEFT LoRA adapter) that can chat.

Shared by :class:`patchloop.llm.clients.hf.HFChatModel` and ``patchloop serve``, so the agent and
the HTTP server render prompts and sample tokens the same way. Generation goes through
``model.generate`` (KV cache on by default); a lock serialises calls because one model
object is not meant to run two generations at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchloop.llm.device import pick_device
from patchloop.llm.errors import LLMError
from patchloop.llm.serving.cpu_attention import use_for_cpu_decoding
from patchloop.llm.serving.prefix_cache import PrefixCache
from patchloop.llm.serving.row_sampling import sampling_kwargs


@dataclass
class Generation:
    """One sampled completion with the figures an RL trajectory and ``usage`` need."""

    text: str
    token_ids: list[int]
    logprobs: list[float]  # log p(token) under the model's raw distribution (temperature 1)
    prompt_tokens: int
    finish_reason: str  # "stop" (eos or stop string) or "length"
    extra: dict[str, Any] = field(default_factory=dict)


def cut_at_stop(text: str, stop: list[str] | None, finish: str) -> tuple[str, str]:
    """``(text, finish)`` with the text cut before each stop string it holds; every engine
    ends a completion this way, so a stop string never reaches the caller."""
    for s in stop or ():
        if s in text:
            text, finish = text[: text.index(s)], "stop"
    return text, finish


def _load(path: str, what: str, loader: Callable[[str], Any]) -> Any:
    """Local directory, or a hub id where a hub is reachable; one-line LLMError otherwise."""
    p = Path(path).expanduser()
    looks_like_hub_id = not p.exists() and path.count("/") == 1 and not path.startswith((".", "/", "~"))
    if not p.exists() and not looks_like_hub_id:
        raise LLMError(f"{what} path not found: {path}")
    try:
        return loader(str(p) if p.exists() else path)
    except Exception as e:  # noqa: BLE001 -- hub unreachable, corrupt files, wrong format: all one line
        where = "local directory" if p.exists() else "hub id (no local directory of that name)"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LLMError(f"cannot load {what} {path!r} as a {where}: {first}") from None


class _TokenSink:
    """A ``generate`` streamer that hands each new token id to a callback (skips the prompt)."""

    def __init__(self, on_token: Callable[[int], None]):
        self.on_token, self.seen_prompt = on_token, False

    def put(self, value) -> None:
        if not self.seen_prompt:
            self.seen_prompt = True
            return
        for t in value.reshape(-1).tolist():
            self.on_token(int(t))

    def end(self) -> None:
        pass


class _Cancelled:
    """Stopping criterion that ends generation once ``event`` is set."""

    def __init__(self, event: threading.Event, torch):
        self.event, self.torch = event, torch

    def __call__(self, input_ids, scores, **kwargs):
        return self.torch.full((input_ids.shape[0],), self.event.is_set(), dtype=self.torch.bool)


class LocalModel:
    """Tokenizer + causal LM on the best device, with chat rendering and sampling."""

    def __init__(self, path: str, adapter: str | None = None, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from patchloop.llm.catalog.models import resolve_model_path

        path = resolve_model_path(path)
        if adapter is None and Path(path).expanduser().is_dir():  # a run dir, final/ or a bare LoRA adapter
            from patchloop.llm.catalog.checkpoints import resolve_checkpoint

            try:
                path, adapter = resolve_checkpoint(Path(path).expanduser())
            except (OSError, ValueError, KeyError) as e:
                raise LLMError(f"cannot load model {path!r}: {e}") from None
        dev, dtype = pick_device(path)
        name = path if adapter is None else f"{path}+{adapter}"
        tokenizer = _load(path, "model", AutoTokenizer.from_pretrained)
        model = _load(path, "model", lambda p: AutoModelForCausalLM.from_pretrained(p, dtype=dtype)).to(device or dev)
        use_for_cpu_decoding(model)
        if adapter is not None:
            from peft import PeftModel

            model = _load(adapter, "LoRA adapter", lambda p: PeftModel.from_pretrained(model, p))
        self._setup(model.eval(), tokenizer, name, torch, int(os.environ.get("PATCHLOOP_PREFIX_SLOTS", "4")))

    @classmethod
    def from_loaded(cls, model, tokenizer, name: str = "policy", *, prefix_slots: int = 0) -> LocalModel:
        """An engine over a model already in memory (a trainer's policy), sharing its weights.

        Nothing is copied or moved and the model's train/eval mode is left as the caller set
        it. Prefix reuse is off by default: a KV cache computed before an optimiser step is
        stale after it (a caller that keeps it on must ``prefix_cache.clear()`` per update)."""
        import torch

        engine = cls.__new__(cls)
        engine._setup(model, tokenizer, name, torch, prefix_slots)
        return engine

    def _setup(self, model, tokenizer, name: str, torch, prefix_slots: int) -> None:
        self.model, self.tokenizer, self.name, self._torch = model, tokenizer, name, torch
        self.device = next(model.parameters()).device
        cfg = model.config
        self.context = int(getattr(cfg, "max_position_embeddings", 0) or tokenizer.model_max_length)
        gen = getattr(model, "generation_config", None)
        eos = gen.eos_token_id if gen is not None and gen.eos_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self._lock = threading.Lock()
        self.prefix_cache = PrefixCache(slots=prefix_slots)
        self.generate_s = 0.0  # seconds the model spent generating (lock held), for time splits

    def render(self, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
        """Prompt token ids for OpenAI-format ``messages`` (+ tools) with the generation prompt."""
        try:
            out = self.tokenizer.apply_chat_template(
                messages, tools=tools or None, add_generation_prompt=True, tokenize=True, return_dict=True
            )
        except Exception as e:  # noqa: BLE001 -- any template error (role order, bad fields) is one line
            raise LLMError(f"chat template of {self.name} rejected the messages: {e}") from None
        return list(out["input_ids"])

    def render_text(self, messages: list[dict], tools: list[dict] | None = None, *,
                    add_generation_prompt: bool = True) -> str:
        """The chat template's text for ``messages`` (what :meth:`render` tokenizes)."""
        try:
            return self.tokenizer.apply_chat_template(
                messages, tools=tools or None, add_generation_prompt=add_generation_prompt, tokenize=False)
        except Exception as e:  # noqa: BLE001 -- as in render
            raise LLMError(f"chat template of {self.name} rejected the messages: {e}") from None

    def encode(self, text: str) -> list[int]:
        """Token ids of a piece of template text (special tokens in it are read as such)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(
        self,
        prompt_ids: list[int],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.7,
        top_p: float = 1.0,
        stop: list[str] | None = None,
        seed: int | None = None,
        use_cache: bool = True,
        reuse_prefix: bool = True,
        on_token: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Sample a completion; ``temperature == 0`` means greedy.

        With ``reuse_prefix`` the KV cache of an earlier generation whose tokens start this
        prompt is extended instead of prefilling the prompt again (:mod:`prefix_cache`)."""
        torch = self._torch
        n_prompt = len(prompt_ids)
        if n_prompt >= self.context:
            raise LLMError(
                f"prompt is {n_prompt} tokens but {self.name} holds at most {self.context}; "
                "shorten the conversation or use a model with a longer context"
            )
        max_new = max(1, min(int(max_new_tokens), self.context - n_prompt))
        kw: dict[str, Any] = {
            "max_new_tokens": max_new,
            "eos_token_id": sorted(self.eos_ids),
            "pad_token_id": self.pad_id,
            "use_cache": use_cache,
            "return_dict_in_generate": True,
        }
        sampling, chosen = sampling_kwargs([seed], temperature, top_p, torch)  # a seed: the draws a batch row gets
        kw.update(sampling)
        if stop:
            kw.update(stop_strings=list(stop), tokenizer=self.tokenizer)
        if on_token is not None:
            kw["streamer"] = _TokenSink(on_token)
        if cancel is not None:  # a client that went away, or server shutdown
            from transformers import StoppingCriteriaList

            kw["stopping_criteria"] = StoppingCriteriaList([_Cancelled(cancel, torch)])
        ids = torch.tensor([prompt_ids], device=self.device)
        reuse = use_cache and reuse_prefix
        with self._lock, torch.inference_mode():
            past, cached = self.prefix_cache.take(prompt_ids) if reuse else (None, 0)
            if past is not None:
                kw["past_key_values"] = past
            if seed is not None:
                torch.manual_seed(seed)
            t0 = time.perf_counter()
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
            self.generate_s += time.perf_counter() - t0
            if reuse:
                self.prefix_cache.put(out.sequences[0].tolist(), getattr(out, "past_key_values", None))
        return self.generation(out.sequences[0, n_prompt:].tolist(), chosen.of(out.sequences)[0], n_prompt, stop,
                               {"cached_prompt_tokens": cached})

    def generation(self, new: list[int], logprobs, prompt_tokens: int, stop: list[str] | None,
                   extra: dict | None = None) -> Generation:
        """The :class:`Generation` of generated token ids ``new``: decoded, ended by eos
        ("stop") or by its limit ("length"), and cut before any stop string."""
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        text, finish = cut_at_stop(text, stop, "stop" if (new and new[-1] in self.eos_ids) else "length")
        return Generation(text, list(new), [round(float(x), 6) for x in logprobs], prompt_tokens, finish, extra or {})

    def generate_batch(self, requests: list, *, temperature: float = 0.7, top_p: float = 1.0,
                       seed: int | None = None) -> list[Generation]:
        """Several prompts decoded together (:mod:`patchloop.llm.serving.batched`)."""
        from patchloop.llm.serving.batched import generate_batch

        return generate_batch(self, requests, temperature=temperature, top_p=top_p, seed=seed)

    def running_batch(self):
        """An empty batch that requests join and leave while it decodes (:mod:`patchloop.llm.serving.continuous`)."""
        from patchloop.llm.serving.continuous import RunningBatch

        return RunningBatch(self)


_CACHE: dict[tuple, LocalModel] = {}
_CACHE_LOCK = threading.Lock()


def _stamp(path: str | None) -> int:
    """Newest mtime of the files in a checkpoint dir, so a re-saved checkpoint is reloaded."""
    p = Path(path).expanduser() if path else None
    if p is None or not p.is_dir():
        return 0
    return max((f.stat().st_mtime_ns for f in p.iterdir() if f.is_file()), default=0)


def get_local_model(path: str, adapter: str | None = None) -> LocalModel:
    """One loaded copy per (checkpoint, adapter) per process: loading is the slow part."""
    path, adapter = str(path), None if adapter is None else str(adapter)
    key = (path, adapter, _stamp(path), _stamp(adapter))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = LocalModel(path, adapter)
        return _CACHE[key]
