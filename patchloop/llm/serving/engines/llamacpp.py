"""A GGUF model served through llama.cpp (``llama-cpp-python``), shaped like ``LocalModel``.

llama.cpp is what local users run (Ollama, the llama.cpp server); on a CPU its 4-bit kernels
decode one sequence several times faster than ``transformers``. This engine gives
``patchloop serve`` the same calls it makes on :class:`patchloop.llm.serving.local.LocalModel`:
``render`` (the GGUF's own chat template, rendered the way ``transformers`` renders it),
``generate`` (token ids in; text, token ids, raw logprobs and a finish reason out) and a
``tokenizer`` with ``encode``/``decode``.

The engine keeps the KV cache of the last sequence and evaluates only the part of the next
prompt that differs from it, so an agent turn costs its new tokens, not the whole history.
Sampling is done here from the raw logits (greedy, or temperature + top-p with a seeded
generator), so logprobs are those of the untempered distribution, as ``LocalModel`` reports.

``llama_cpp`` is imported lazily: ``bash tools/llamacpp.sh`` builds the configuration known
to work on this project's machines (see ``docs/benchmarks.md``) and links it into ``.venv``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from patchloop.llm.errors import LLMError
from patchloop.llm.serving.local import Generation, cut_at_stop
from patchloop.llm.serving.prefix_cache import common_prefix

INSTALL_HINT = (
    "llama-cpp-python is not installed: run `bash tools/llamacpp.sh` (builds it for this CPU "
    "once, about 7 minutes, into ~/.cache/patchloop/llamacpp-*, and links it into .venv)"
)


def import_llama_cpp():
    """The ``llama_cpp`` module, or one LLMError line saying how to install it.

    OpenMP threads that spin while waiting take the cores a busy machine needs (the agent's
    tests, sandboxes, other jobs): measured here under load, 2 threads decoded 0.12 tok/s
    spinning and 3.3 tok/s with OMP_WAIT_POLICY=PASSIVE. libgomp reads the variable when it
    loads, so it is set (unless the user set it) before llama.cpp is first imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError:
        raise LLMError(INSTALL_HINT) from None
    return llama_cpp


def resolve_gguf(path: str) -> Path:
    """A ``.gguf`` file, a fetched model's directory, or a catalog name (see ``catalog.gguf_path``)."""
    from patchloop.llm.catalog.models import gguf_path

    return gguf_path(path)


def cpu_threads() -> int:
    """All cores this process may use: llama.cpp's default (half of them) idles the rest."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class LlamaCppBackend:
    """The few llama.cpp calls the engine needs, so its logic can be tested with a stand-in."""

    def __init__(self, gguf: Path, *, n_ctx: int | None, n_threads: int | None, n_batch: int, use_mmap: bool):
        llama_cpp = import_llama_cpp()
        threads = n_threads or cpu_threads()
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(gguf),
                n_ctx=n_ctx or 0,
                n_batch=n_batch,
                n_ubatch=n_batch,
                n_threads=threads,
                n_threads_batch=threads,
                use_mmap=use_mmap,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:  # llama.cpp says only "failed to load model"
            raise LLMError(f"llama.cpp cannot load {gguf}: {e}") from None
        self.lib = llama_cpp
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.n_ctx = self.llm.n_ctx()
        self.n_vocab = self.llm.n_vocab()
        self.chat_template = self.llm.metadata.get("tokenizer.chat_template")
        # The template may write these; it gets them as text, as transformers passes them.
        self.specials = {
            f"{name}_token": self._text(self.llm.metadata.get(f"tokenizer.ggml.{name}_token_id"))
            for name in ("bos", "eos")
        }

    def _text(self, token_id: str | None) -> str:
        if token_id is None:
            return ""
        return self.llm.detokenize([int(token_id)], special=True).decode("utf-8", errors="replace")

    def tokenize(self, text: str) -> list[int]:
        # Special tokens in rendered chat text (<|im_start|>) are parsed as such, and no BOS
        # is added: the template writes one where the model wants it, as in transformers.
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def piece(self, ids: list[int]) -> bytes:
        """The bytes of ``ids`` without control tokens (``<|im_end|>`` prints as nothing)."""
        return self.llm.detokenize(list(ids), special=False)

    def is_eog(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    def cached(self) -> list[int]:
        """Token ids whose keys and values are in the cache now, in order."""
        return self.llm.input_ids[: self.llm.n_tokens].tolist()

    def eval(self, ids: list[int], keep: int) -> None:
        """Drop the cache past ``keep`` tokens, then evaluate ``ids`` after them."""
        self.llm.n_tokens = keep
        self.llm.eval(ids)

    def logits(self) -> np.ndarray:
        """Logits after the last evaluated token (a copy: the next eval overwrites them)."""
        ptr = self.lib.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float32, copy=True)


class GGUFTokenizer:
    """``encode``/``decode`` as ``serve`` calls them on a Hugging Face tokenizer."""

    def __init__(self, backend):
        self.backend = backend

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.backend.tokenize(text)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self.backend.piece(list(ids)).decode("utf-8", errors="replace")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - float(np.max(logits))
    return z - np.log(np.exp(z).sum())


def pick_token(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    """Greedy for ``temperature <= 0``, else a draw from the tempered top-p nucleus."""
    if not temperature or temperature <= 0:
        return int(np.argmax(logits))
    p = np.exp(log_softmax(logits / float(temperature)))
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        keep = np.cumsum(p[order]) - p[order] < top_p  # the smallest set reaching top_p
        nucleus = np.zeros_like(p)
        nucleus[order[keep]] = p[order[keep]]
        p = nucleus
    return int(rng.choice(len(p), p=p / p.sum()))


class LlamaCppModel:
    """A GGUF model with ``LocalModel``'s ``render``/``generate``, on llama.cpp."""

    def __init__(
        self,
        path: str,
        *,
        n_ctx: int | None = 32768,
        n_threads: int | None = None,
        n_batch: int = 512,
        use_mmap: bool = True,
        backend: Any = None,
    ):
        if backend is None:
            gguf = resolve_gguf(path)
            backend = LlamaCppBackend(
                gguf, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch, use_mmap=use_mmap
            )
        self.backend = backend
        self.name = str(path)
        self.context = int(backend.n_ctx)
        self.tokenizer = GGUFTokenizer(backend)
        if not backend.chat_template:
            raise LLMError(f"{self.name} carries no chat template (GGUF key tokenizer.chat_template)")
        self._lock = threading.Lock()

    def render(self, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
        """Prompt token ids for OpenAI-format ``messages`` (+ tools) with the generation prompt."""
        from transformers.utils.chat_template_utils import render_jinja_template

        try:
            texts, _ = render_jinja_template(
                conversations=[messages],
                tools=tools or None,
                chat_template=self.backend.chat_template,
                add_generation_prompt=True,
                **self.backend.specials,
            )
        except Exception as e:  # noqa: BLE001 -- any template error (role order, bad fields) is one line
            raise LLMError(f"chat template of {self.name} rejected the messages: {e}") from None
        return self.backend.tokenize(texts[0])

    def _prefill(self, prompt_ids: list[int], use_cache: bool) -> int:
        """Evaluate the prompt, reusing the cached prefix it shares; returns tokens reused."""
        keep = 0
        if use_cache:
            # the last prompt token must run: its logits pick the first new one
            keep = min(common_prefix(self.backend.cached(), prompt_ids), len(prompt_ids) - 1)
        self.backend.eval(prompt_ids[keep:], keep)
        return keep

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
        on_token: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Sample a completion; ``temperature == 0`` means greedy."""
        n_prompt = len(prompt_ids)
        if n_prompt == 0:
            raise LLMError("empty prompt: nothing to continue")
        if n_prompt >= self.context:
            raise LLMError(
                f"prompt is {n_prompt} tokens but {self.name} holds at most {self.context}; "
                "shorten the conversation or use a model with a longer context"
            )
        max_new = max(1, min(int(max_new_tokens), self.context - n_prompt))
        rng = np.random.default_rng(seed)
        new: list[int] = []
        logprobs: list[float] = []
        finish = "length"
        with self._lock:
            reused = self._prefill(list(prompt_ids), use_cache)
            while len(new) < max_new and not (cancel is not None and cancel.is_set()):
                logits = self.backend.logits()
                tok = pick_token(logits, temperature, top_p, rng)
                new.append(tok)
                logprobs.append(round(float(log_softmax(logits)[tok]), 6))
                if on_token is not None:
                    on_token(tok)
                if self.backend.is_eog(tok):
                    finish = "stop"
                    break
                if stop and any(s in self.tokenizer.decode(new) for s in stop):
                    finish = "stop"
                    break
                if len(new) < max_new:
                    self.backend.eval([tok], n_prompt + len(new) - 1)
        text = self.tokenizer.decode(new)
        text, finish = cut_at_stop(text, stop, finish)
        return Generation(text, new, logprobs, n_prompt, finish, {"cached_prompt_tokens": reused})


def load_engine(path: str, **options) -> LlamaCppModel:
    """What ``patchloop serve --engine llamacpp --model PATH`` loads (options: see ``LlamaCppModel``)."""
    return LlamaCppModel(path, **options)
