"""serve's batching, side by side: whole batches against continuous batching, one workload.

``clients`` threads each send ``requests`` chat requests one after another (a datagen worker
or an agent waits for its reply before it sends again), through
:class:`patchloop.llm.serving.batcher.Batcher` on one loaded model: first with whole batches (a batch
decodes until its longest row ends), then continuously (rows join and leave a running batch).
The instructions ask for replies of very different lengths, as a teacher's prompts do, and
every request is seeded, so both modes draw the same random numbers for the same request.

    .venv/bin/python bench/continuous_batching.py [--model qwen2.5-coder-0.5b-instruct]
        [--clients 8] [--requests 3] [--max-tokens 256]

Prints completion tokens per second of wall time for each and the ratio; writes
``runs/bench/continuous_batching.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

INSTRUCTIONS = [
    "Answer with one word: which Python keyword defines a function?",
    "Write a Python function that returns the n-th Fibonacci number iteratively, with a docstring.",
    "Say which is larger, 2**10 or 10**3, in one short sentence.",
    "Write a Python class Stack with push, pop, peek and is_empty, and three assert-based tests.",
    "Give the output of print(sorted('banana')) and nothing else.",
    "Write a Python function that parses 'YYYY-MM-DD' into a (year, month, day) tuple and rejects bad input.",
    "Name one sorting algorithm with O(n log n) worst-case time. One line.",
    "Write a Python function that merges two sorted lists into one sorted list, then explain its complexity.",
]


def run_mode(engine, continuous: bool, args) -> dict:
    """Every client's requests through one Batcher; wall time, tokens and per-request latency."""
    from patchloop.llm.serving.batcher import Batcher

    batcher = Batcher(engine, max_batch=args.clients, continuous=continuous)
    tokens, latencies, lock = [], [], threading.Lock()

    def client(c: int) -> None:
        for r in range(args.requests):
            text = INSTRUCTIONS[(c * args.requests + r) % len(INSTRUCTIONS)]
            prompt = engine.render([{"role": "user", "content": text}])
            settings = {"max_new_tokens": args.max_tokens, "temperature": 0.7, "top_p": 0.95, "seed": 100 * c + r}
            t0 = time.perf_counter()
            gen = batcher.submit(prompt, settings).result()
            with lock:
                tokens.append(len(gen.token_ids))
                latencies.append(time.perf_counter() - t0)

    engine.prefix_cache.clear()
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    batcher.close()
    out = {"wall_s": round(wall, 1), "completion_tokens": sum(tokens), "tok_per_s": round(sum(tokens) / wall, 1),
           "mean_latency_s": round(sum(latencies) / len(latencies), 1)}
    if batcher.running is not None:
        out["rows_per_step"] = round(batcher.running.row_steps / max(1, batcher.running.steps), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=3, help="requests per client, sent one after another")
    ap.add_argument("--max-tokens", type=int, default=256)
    args = ap.parse_args()
    from rich.console import Console

    from patchloop.llm.serving.local import get_local_model

    console = Console(stderr=True)
    engine = get_local_model(args.model)
    result = {"model": args.model, "clients": args.clients, "requests": args.clients * args.requests,
              "max_tokens": args.max_tokens, "machine": platform.processor() or platform.machine(),
              "cores": os.cpu_count(), "load_before": round(os.getloadavg()[0], 2)}
    for name, continuous in (("whole_batches", False), ("continuous", True)):
        with console.status(f"{name}: {args.clients} clients x {args.requests} requests"):
            result[name] = run_mode(engine, continuous, args)
        console.print(f"{name}: {result[name]}")
    result["ratio"] = round(result["continuous"]["tok_per_s"] / result["whole_batches"]["tok_per_s"], 2)
    out = Path("runs/bench/continuous_batching.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()
    main()
