"""Benchmark the LLM backends on the tiny offline model.

1. Generation tokens/s with the KV cache vs ``use_cache=False`` (same prompt, same number
   of greedy tokens, side by side), and their ratio.
2. ``patchloop serve`` throughput over real HTTP on 127.0.0.1 at 1 and 4 concurrent
   clients: requests/s and completion tokens/s (the server has one model worker, so
   4 clients measure queueing overhead, not batching gains).

    .venv/bin/python bench/llm.py [--model DIR] [--tokens 128] [--requests 8]

Prints a table and writes ``runs/bench/llm.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TOOLS = [{"type": "function", "function": {"name": "run", "description": "Run a shell command.",
                                           "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}}]


def bench_generate(model_dir: str, n_tokens: int, repeats: int) -> dict:
    import torch

    from patchloop.llm.serving.local import LocalModel

    engine = LocalModel(model_dir)
    prompt = engine.render([{"role": "user", "content": "Write a function that reverses a list."}], TOOLS)
    ids = torch.tensor([prompt])
    out = {"prompt_tokens": len(prompt), "new_tokens": n_tokens}
    for use_cache in (True, False):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            with torch.inference_mode():
                engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                      max_new_tokens=n_tokens, min_new_tokens=n_tokens, use_cache=use_cache,
                                      pad_token_id=engine.pad_id)
            times.append(time.perf_counter() - start)
        out["kv_cache_tok_s" if use_cache else "no_cache_tok_s"] = round(n_tokens / statistics.median(times), 1)
    out["ratio"] = round(out["kv_cache_tok_s"] / out["no_cache_tok_s"], 2)
    return out


def start_server(model_dir: str):
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", model_dir, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    url = line.split(" at ")[-1].strip()
    httpx.get(f"{url}/models", timeout=30).raise_for_status()
    return proc, url


def bench_server(url: str, clients: int, requests: int, max_tokens: int) -> dict:
    import openai

    client = openai.OpenAI(base_url=url, api_key="unused", timeout=300, max_retries=0)

    def one(i: int) -> int:
        r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"task {i}"}],
                                           temperature=0, max_tokens=max_tokens)
        return r.usage.completion_tokens

    one(-1)  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(one, range(requests)))
    wall = time.perf_counter() - start
    return {"clients": clients, "requests": requests, "req_s": round(requests / wall, 2),
            "tok_s": round(tokens / wall, 1), "completion_tokens": tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="checkpoint dir (default: build the tiny model in a temp dir)")
    ap.add_argument("--tokens", type=int, default=128, help="new tokens per generation")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--requests", type=int, default=8, help="requests per concurrency level")
    ap.add_argument("--out", default="runs/bench/llm.json")
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from patchloop.llm.catalog.tiny import init_tiny

            with console.status("building the tiny model"):
                model = str(init_tiny(Path(tmp) / "tiny"))
        with console.status("generation: KV cache vs no cache"):
            gen = bench_generate(model, args.tokens, args.repeats)
        proc, url = start_server(model)
        try:
            served = []
            for clients in (1, 4):
                with console.status(f"serve: {clients} concurrent client(s)"):
                    served.append(bench_server(url, clients, args.requests, max_tokens=32))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    result = {"generate": gen, "serve": served, "load_avg": os.getloadavg()[0], "cpus": os.cpu_count()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    table = Table(title=f"LLM backends (load average {result['load_avg']:.1f} on {result['cpus']} CPUs)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(f"generate, KV cache ({gen['prompt_tokens']}-token prompt, {gen['new_tokens']} new)",
                  f"{gen['kv_cache_tok_s']} tok/s")
    table.add_row("generate, use_cache=False", f"{gen['no_cache_tok_s']} tok/s")
    table.add_row("KV cache speed-up", f"{gen['ratio']}x")
    for s in served:
        table.add_row(f"serve, {s['clients']} client(s), {s['requests']} req x 32 tok",
                      f"{s['req_s']} req/s, {s['tok_s']} tok/s")
    console.print(table)
    console.print(f"written to {args.out}")


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
