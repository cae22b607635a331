"""The engine ``HFChatModel`` drives, over a vLLM ``LLM`` that is already running.

Agentic GRPO on a GPU colocates vLLM in the training process (TRL keeps its weights in step
with the policy); the agent's rollouts then call the model from many threads at once. vLLM's
offline ``LLM`` is not meant to be entered from several threads, and one call per request
would waste its batching, so the calls go to one thread that takes every request waiting and
hands them to ``LLM.generate`` together, each with its own sampling settings and seed.
Prompts go in as token ids and the sampled ids come back as they are, so token continuation
(:mod:`patchloop.llm.serving.continuation`) works the same as on the local engine.

Not run on the CPU machines patchloop is tested on (no vLLM there); its tests drive it with a
stand-in that has vLLM's ``generate`` signature and output shape.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any

from patchloop.llm.serving.local import Generation, LocalModel, cut_at_stop


class VLLMEngine:
    """``render``/``encode``/``generate`` over ``llm`` (a ``vllm.LLM``) and its tokenizer."""

    render = LocalModel.render
    render_text = LocalModel.render_text
    encode = LocalModel.encode

    def __init__(self, llm, tokenizer, name: str = "vllm", context: int | None = None):
        self.llm, self.tokenizer, self.name = llm, tokenizer, name
        self.context = int(context or llm.llm_engine.model_config.max_model_len)
        self.eos_ids = {tokenizer.eos_token_id}
        self.generate_s = 0.0  # seconds inside LLM.generate, as the local engine counts it
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="vllm-engine", daemon=True)
        self._thread.start()

    def generate(self, prompt_ids: list[int], *, max_new_tokens: int = 256, temperature: float = 0.7,
                 top_p: float = 1.0, stop: list[str] | None = None, seed: int | None = None,
                 **_ignored: Any) -> Generation:
        """One completion; blocks while the worker batches it with whatever else is waiting."""
        settings = {"max_tokens": max(1, min(int(max_new_tokens), self.context - len(prompt_ids))),
                    "temperature": float(temperature or 0.0), "top_p": float(top_p), "seed": seed,
                    "stop": list(stop) if stop else None, "logprobs": 0}
        future: Future = Future()
        self._queue.put((list(prompt_ids), settings, future))
        return future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            jobs = [first]
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)
                    break
                jobs.append(job)
            try:
                results = self._run(jobs)
            except Exception as e:  # noqa: BLE001 -- each waiting caller gets the error; the worker lives on
                for _, _, future in jobs:
                    future.set_exception(e)
                continue
            for (_, _, future), result in zip(jobs, results):
                future.set_result(result)

    def _run(self, jobs: list) -> list[Generation]:
        from vllm import SamplingParams

        params = [SamplingParams(**settings) for _, settings, _ in jobs]
        t0 = time.perf_counter()
        outputs = self.llm.generate([{"prompt_token_ids": p} for p, _, _ in jobs], params, use_tqdm=False)
        self.generate_s += time.perf_counter() - t0
        return [self._generation(prompt, settings, out.outputs[0])
                for (prompt, settings, _), out in zip(jobs, outputs)]

    def _generation(self, prompt: list[int], settings: dict, out) -> Generation:
        ids = list(out.token_ids)
        logprobs = [round(float(step[t].logprob), 6) if step and t in step else float("nan")
                    for t, step in zip(ids, out.logprobs or [None] * len(ids))]
        finish = "stop" if out.finish_reason == "stop" else "length"
        text, finish = cut_at_stop(self.tokenizer.decode(ids, skip_special_tokens=True), settings["stop"], finish)
        return Generation(text, ids, logprobs, len(prompt), finish)
