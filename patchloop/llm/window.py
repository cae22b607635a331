"""The context window a chat model really has, and a token counter for it where one is at hand.

An agent that assumes 32,000 tokens sends a 4,142-token prompt to a server holding 4,096
and gets HTTP 400 on every instance. The backend knows better: vLLM reports
``max_model_len`` (and ``root``, the checkpoint it serves) in ``/v1/models``, as
``patchloop serve`` does; llama.cpp and LM Studio use other field names; a local
checkpoint has its config. :func:`model_window` asks, once per endpoint and model.

The counter is the model's own tokenizer when its files are on this machine (a local
checkpoint, or the ``root`` a local server reports); ``None`` otherwise, and the caller
falls back to an estimate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchloop.llm.errors import LLMError

# Field names servers use for the context length in /v1/models, in the order we trust them.
CONTEXT_FIELDS = ("max_model_len", "context_length", "context_window", "max_context_length", "n_ctx", "n_ctx_train")


@dataclass(frozen=True)
class ModelWindow:
    """What the backend said about the model's window."""

    context: int | None
    """Tokens the model holds (prompt + reply); None when the backend does not say."""
    source: str
    """Where ``context`` came from, for the run's log line."""
    count: Callable[[str], int] | None = None
    """Exact token count of a text with the model's tokenizer, when it is available here."""


def model_window(model: Any) -> ModelWindow:
    """Ask ``model``'s backend for its window. Raises :class:`LLMError` (one line) when an
    endpoint cannot be reached at all, so a run fails before it starts, not mid-episode."""
    kind = type(model).__name__
    if kind == "OpenAIChatModel":
        return _endpoint_window(model.base_url or "https://api.openai.com/v1", model.model_name, model)
    if kind == "HFChatModel":
        engine = model.engine
        tok = engine.tokenizer
        return ModelWindow(int(engine.context), f"the checkpoint's config ({model.model_path})",
                           lambda text: len(tok.encode(text, add_special_tokens=False)))
    return ModelWindow(None, f"no window reported by {kind}")


_ENTRIES: dict[tuple[str, str], dict | None] = {}  # one /models request per endpoint and model


def _endpoint_window(base_url: str, name: str, model: Any) -> ModelWindow:
    if (base_url, name) not in _ENTRIES:
        entries = _list_models(model)
        _ENTRIES[base_url, name] = next((e for e in entries if e.get("id") == name),
                                        entries[0] if len(entries) == 1 else None)
    entry = _ENTRIES[base_url, name]
    if entry is None:
        return ModelWindow(None, f"{base_url} does not list model {name!r}")
    for field in CONTEXT_FIELDS:
        value = _find(entry, field)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return ModelWindow(int(value), f"{base_url} reports {field}={int(value)}", _tokenizer_at(entry.get("root")))
    return ModelWindow(None, f"{base_url} reports no context length for {name!r}")


def _list_models(model: Any) -> list[dict]:
    import openai

    try:
        page = model.client.with_options(max_retries=1, timeout=min(10.0, model.timeout)).models.list()
    except openai.APIConnectionError as e:
        raise LLMError(f"cannot reach {model._where}: {e.__cause__ or e}") from None
    except openai.APIStatusError as e:
        if e.status_code in (401, 403):
            raise LLMError(f"{model._where} answered HTTP {e.status_code}: check the API key") from None
        return []  # a server without /models: the window is unknown, not an error
    except openai.APIError:
        return []
    return [m.model_dump() for m in page.data]


def _find(entry: dict, field: str) -> Any:
    """``field`` at the top level or one level down (llama.cpp nests it under ``meta``)."""
    if field in entry:
        return entry[field]
    for value in entry.values():
        if isinstance(value, dict) and field in value:
            return value[field]
    return None


@functools.lru_cache(maxsize=8)
def _tokenizer_at(root: Any) -> Callable[[str], int] | None:
    """A counter from ``ROOT/tokenizer.json`` when the served checkpoint is on this machine."""
    if not isinstance(root, str) or not root:
        return None
    path = Path(root).expanduser() / "tokenizer.json"
    try:
        if not path.is_file():
            return None
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
    except Exception:  # noqa: BLE001 - an unreadable tokenizer only costs precision
        return None
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)
