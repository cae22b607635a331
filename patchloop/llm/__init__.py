"""patchloop.llm: chat models with tool calls, ``serve``, and the offline tiny model.

``load_chat_model("openai:NAME" | "hf:PATH[+ADAPTER]")`` returns a LangChain
``BaseChatModel``; any other LangChain chat model plugs into the agent the same way.
Heavy libraries (torch, transformers, peft, openai) load only when a model is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from patchloop.llm.errors import LLMError

__all__ = ["LLMError", "load_chat_model", "parse_model_spec"]


def parse_model_spec(spec: str) -> tuple[str, str, str | None]:
    """``"hf:ckpt+lora"`` -> ``("hf", "ckpt", "lora")``; ``"openai:gpt-4o"`` -> ``("openai", "gpt-4o", None)``."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in ("openai", "hf") or not rest.strip():
        raise LLMError(f"bad model spec {spec!r}: use openai:NAME (with a base URL), hf:PATH[+ADAPTER_PATH] or hf:CATALOG-NAME")
    if kind == "openai":
        return kind, rest, None
    # A '+' splits off the adapter, unless the whole string is an existing path.
    if Path(rest).expanduser().exists() or "+" not in rest:
        return kind, rest, None
    path, _, adapter = rest.rpartition("+")
    return kind, path, adapter or None


def _check_local(path: str, what: str) -> None:
    p = Path(path).expanduser()
    hub_like = path.count("/") == 1 and not path.startswith((".", "/", "~"))
    if not p.exists() and not hub_like:
        raise LLMError(f"{what} path not found: {path}")


def load_chat_model(
    spec: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float = 600.0,
    max_retries: int = 3,
    **gen_kw: Any,
):
    """Build a chat model from a ``--model`` string.

    ``gen_kw``: ``temperature``, ``top_p``, ``max_tokens`` (or ``max_new_tokens``), ``seed``
    and ``return_token_ids`` (prompt and sampled token ids; for ``openai:`` only vLLM and
    ``patchloop serve`` give them, and RL rollouts should ask);
    for ``openai:`` also ``logprobs``.
    ``base_url`` defaults to ``$OPENAI_BASE_URL``. Raises :class:`LLMError` (one line) for a
    bad spec or a missing local path; an unreachable endpoint surfaces on the first call.
    """
    kind, name, adapter = parse_model_spec(spec)
    if "max_new_tokens" in gen_kw and kind == "openai":
        gen_kw["max_tokens"] = gen_kw.pop("max_new_tokens")
    if "max_tokens" in gen_kw and kind == "hf":
        gen_kw["max_new_tokens"] = gen_kw.pop("max_tokens")
    gen_kw = {k: v for k, v in gen_kw.items() if v is not None}
    if kind == "openai":
        from patchloop.llm.clients.openai_compat import OpenAIChatModel

        return OpenAIChatModel(
            model_name=name,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            **gen_kw,
        )
    from patchloop.llm.catalog.models import resolve_model_path

    name = resolve_model_path(name)  # a catalog name means its fetched checkpoint
    _check_local(name, "model")
    if adapter is not None:
        _check_local(adapter, "LoRA adapter")
    from patchloop.llm.clients.hf import HFChatModel

    return HFChatModel(model_path=name, adapter_path=adapter, **gen_kw)
