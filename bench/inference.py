"""CPU inference speed of the real models, every comparison side by side in one run.

For each model (catalog names; fetched first with ``patchloop model fetch``):

1. decoding tokens/s: float32 one sequence (the old path) vs bfloat16 one sequence vs
   bfloat16 8 sequences in one batch (and float32 8 sequences), fixed number of new tokens;
2. prefill tokens/s of a ~3,200-token prompt, float32 vs bfloat16;
3. an agent-style 10-turn conversation (a long system prompt, a tool observation per turn,
   a short reply per turn), with and without KV-prefix reuse, same greedy replies;
4. ``patchloop serve`` over HTTP on 127.0.0.1: completion tokens/s with 1 client vs 4
   concurrent clients (dynamic batching);
5. llama.cpp (``bench/llamacpp.py``) where a working build is installed: prefill, one-sequence
   decoding, and the same 10-turn conversation with and without its prefix reuse.

    .venv/bin/python bench/inference.py [--models qwen2.5-coder-0.5b-instruct,...] [--tokens 32]

Prints a table per model and writes ``runs/bench/inference.json``. Goals (from the issue):
bf16 batched decoding >= 10x float32 one at a time; 10 turns >= 3x faster with prefix reuse;
serve with 4 clients >= 3x the throughput of 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FILLER = ("def helper_{i}(items, key=None):\n    \"\"\"Return the items sorted by key, dropping None values.\"\"\"\n"
          "    return sorted((x for x in items if x is not None), key=key)\n\n")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def bf16_hardware() -> str:
    """Which bf16 instructions the CPU has: AMX tiles are several times faster than AVX-512-BF16."""
    from patchloop.llm.device import cpu_flags

    return ",".join(f for f in ("amx_bf16", "amx_tile", "avx512_bf16") if f in cpu_flags()) or "none"


def autogroup() -> str:
    """With the kernel's autogroup on, each terminal session gets an equal CPU share whatever its
    processes' nice values, so a niced job in another session still halves this one's cores."""
    try:
        return "on" if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1" else "off"
    except OSError:
        return "unknown"


def load(name: str, dtype: str):
    os.environ["PATCHLOOP_DTYPE"] = dtype
    from patchloop.llm.serving.local import LocalModel

    return LocalModel(name)


def decode_rate(engine, n_tokens: int, batch: int) -> float:
    """New tokens per second over ``batch`` sequences forced to ``n_tokens`` each."""
    import torch

    prompts = [engine.render([{"role": "user", "content": f"Write a Python function number {i} that reverses a list."}])
               for i in range(batch)]
    width = max(map(len, prompts))
    ids = torch.full((batch, width), engine.pad_id)
    mask = torch.zeros((batch, width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):], mask[i, width - len(p):] = torch.tensor(p), 1
    start = time.perf_counter()
    with torch.inference_mode():
        engine.model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=n_tokens,
                              min_new_tokens=n_tokens, pad_token_id=engine.pad_id)
    return batch * n_tokens / (time.perf_counter() - start)


def prefill_rate(engine, n_prompt: int) -> tuple[int, float]:
    import torch

    text = "".join(FILLER.format(i=i) for i in range(400))
    ids = engine.tokenizer(text)["input_ids"][:n_prompt]
    x = torch.tensor([ids])
    with torch.inference_mode():
        start = time.perf_counter()
        engine.model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=True)
        return len(ids), len(ids) / (time.perf_counter() - start)


def conversation(engine, turns: int, reuse: bool, reply_tokens: int, system_blocks: int = 30,
                 observation_blocks: int = 4) -> dict:
    """Seconds for ``turns`` agent turns; the replies are greedy, so both arms see the same text.

    Works on both engines: transformers' ``LocalModel`` (``reuse_prefix``, an LRU of KV caches)
    and llama.cpp's (``use_cache``, the one sequence its context holds)."""
    if hasattr(engine, "prefix_cache"):
        engine.prefix_cache.clear()
        switch = {"reuse_prefix": reuse}
    else:
        switch = {"use_cache": reuse}
    system = "You fix bugs in Python repositories. Repository map:\n" + "".join(
        FILLER.format(i=i) for i in range(system_blocks))
    history = [{"role": "system", "content": system}, {"role": "user", "content": "Fix: helper_3 drops zeros."}]
    start, prompt_tokens, reused, replies = time.perf_counter(), 0, 0, []
    for t in range(turns):
        prompt = engine.render(history)
        prompt_tokens += len(prompt)
        gen = engine.generate(prompt, max_new_tokens=reply_tokens, temperature=0, **switch)
        reused += int(gen.extra.get("cached_prompt_tokens") or 0)
        replies.append(gen.token_ids)
        observation = f"$ sed -n 1,40p helpers.py  (turn {t})\n" + "".join(
            FILLER.format(i=100 * t + i) for i in range(observation_blocks))
        history += [{"role": "assistant", "content": gen.text}, {"role": "user", "content": observation}]
    return {"seconds": time.perf_counter() - start, "prompt_tokens": prompt_tokens, "replies": replies,
            "reused_tokens": reused}


def conversation_pair(engine, args) -> dict:
    """The conversation with and without prefix reuse on one engine, and their ratio."""
    sizes = dict(system_blocks=args.system_blocks, observation_blocks=args.observation_blocks)
    with_reuse = conversation(engine, args.turns, True, args.reply_tokens, **sizes)
    without = conversation(engine, args.turns, False, args.reply_tokens, **sizes)
    # bf16 sums in another order with a cache, so a near-tie may flip a greedy token: say so
    return {"same_replies": with_reuse["replies"] == without["replies"], "turns": args.turns,
            "turn_prompt_tokens": with_reuse["prompt_tokens"], "conversation_reuse_s": with_reuse["seconds"],
            "conversation_noreuse_s": without["seconds"], "reused_tokens": with_reuse["reused_tokens"],
            "prefix_reuse_speedup": without["seconds"] / with_reuse["seconds"]}


def llamacpp_conversation(name: str, args) -> dict | str:
    """The same conversation on the llama.cpp engine (the fast path for one user at a terminal)."""
    try:
        from patchloop.llm.serving.engines.llamacpp import load_engine

        engine = load_engine(name, n_ctx=16384)
    except Exception as e:  # noqa: BLE001 -- no working build here: say so in the results
        return f"not measured: {e}"
    return conversation_pair(engine, args)


def serve_rate(name: str, clients: int, requests: int, max_tokens: int) -> float:
    import httpx

    env = {**os.environ, "PATCHLOOP_DTYPE": "bfloat16"}
    proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", name, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = proc.stdout.readline()
        if "serving" not in line:
            raise SystemExit(f"serve did not start: {line!r}")
        url = line.split(" at ")[-1].strip()

        def ask(i: int) -> int:
            body = {"messages": [{"role": "user", "content": f"Write a Python function #{i} that merges two dicts."}],
                    "max_tokens": max_tokens, "temperature": 0}
            r = httpx.post(f"{url}/chat/completions", json=body, timeout=1800)
            return r.json()["usage"]["completion_tokens"]

        ask(0)  # warm up
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            tokens = sum(pool.map(ask, range(1, requests + 1)))
        return tokens / (time.perf_counter() - start)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def bench_model(name: str, args) -> dict:
    r: dict = {"model": name}
    for dtype in ("float32", "bfloat16"):
        engine = load(name, dtype)
        r[f"decode_1_{dtype}"] = decode_rate(engine, args.tokens, 1)
        r[f"decode_8_{dtype}"] = decode_rate(engine, args.tokens, 8)
        if dtype == "bfloat16":
            r["decode_16_bfloat16"] = decode_rate(engine, args.tokens, 16)
        r["prefill_tokens"], r[f"prefill_{dtype}"] = prefill_rate(engine, args.prefill)
        if dtype == "bfloat16":
            r.update(conversation_pair(engine, args))
        del engine
    for clients in (1, 4):
        r[f"serve_{clients}_clients_tok_s"] = serve_rate(name, clients, args.requests, args.serve_tokens)
    try:
        from bench.llamacpp import bench_llamacpp  # a working llama-cpp-python build, if installed
    except ImportError as e:
        r["llamacpp"] = f"not measured: {e}"
    else:
        r["llamacpp"] = bench_llamacpp(name, prompt_tokens=args.prefill, decode_tokens=args.tokens)
        r["llamacpp_conversation"] = llamacpp_conversation(name, args)
    r["batched_bf16_vs_fp32_single"] = r["decode_8_bfloat16"] / r["decode_1_float32"]
    r["batched16_bf16_vs_fp32_single"] = r["decode_16_bfloat16"] / r["decode_1_float32"]
    r["serve_4_vs_1"] = r["serve_4_clients_tok_s"] / r["serve_1_clients_tok_s"]
    return r


def report(r: dict) -> None:
    f = lambda k: f"{r[k]:.1f}"  # noqa: E731
    print(f"\n## {r['model']}")
    print(f"decode tok/s  fp32 x1 {f('decode_1_float32')} | bf16 x1 {f('decode_1_bfloat16')} | "
          f"fp32 x8 {f('decode_8_float32')} | bf16 x8 {f('decode_8_bfloat16')} | bf16 x16 {f('decode_16_bfloat16')}")
    print(f"prefill {r['prefill_tokens']} tokens, tok/s  fp32 {f('prefill_float32')} | bf16 {f('prefill_bfloat16')}")
    print(f"{r['turns']}-turn conversation ({r['turn_prompt_tokens']} prompt tokens in all): "
          f"{f('conversation_noreuse_s')} s without reuse, {f('conversation_reuse_s')} s with "
          f"({r['reused_tokens']} tokens reused; same greedy replies: {r['same_replies']})")
    print(f"serve completion tok/s: 1 client {f('serve_1_clients_tok_s')} | 4 clients {f('serve_4_clients_tok_s')}")
    print(f"llama.cpp: {r['llamacpp']}")
    lc = r.get("llamacpp_conversation")
    if isinstance(lc, dict):
        print(f"llama.cpp {lc['turns']}-turn conversation: {lc['conversation_noreuse_s']:.1f} s without reuse, "
              f"{lc['conversation_reuse_s']:.1f} s with ({lc['reused_tokens']} tokens reused; same greedy replies: "
              f"{lc['same_replies']}) = {lc['prefix_reuse_speedup']:.2f}x")
    elif lc:
        print(f"llama.cpp conversation: {lc}")
    print(f"ratios: bf16 x8 / fp32 x1 = {r['batched_bf16_vs_fp32_single']:.1f}x, "
          f"bf16 x16 / fp32 x1 = {r['batched16_bf16_vs_fp32_single']:.1f}x (goal >= 10) | "
          f"prefix reuse {r['prefix_reuse_speedup']:.2f}x (goal >= 3) | serve 4/1 {r['serve_4_vs_1']:.2f}x (goal >= 3)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="qwen2.5-coder-0.5b-instruct,qwen2.5-coder-1.5b-instruct")
    ap.add_argument("--tokens", type=int, default=32, help="new tokens per decoded sequence")
    ap.add_argument("--prefill", type=int, default=3200)
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--reply-tokens", type=int, default=24)
    # The agent's own prompt sizes: its opening (system prompt, tool schemas, 1,500-token repo
    # map) is ~2,500 tokens and a file view ~400; one FILLER block is ~40 tokens.
    ap.add_argument("--system-blocks", type=int, default=60, help="FILLER blocks in the system prompt")
    ap.add_argument("--observation-blocks", type=int, default=10, help="FILLER blocks per tool observation")
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--serve-tokens", type=int, default=48)
    ap.add_argument("--out", default="runs/bench/inference.json")
    args = ap.parse_args()
    machine = {"cpu": cpu_model(), "bf16_hardware": bf16_hardware(), "cores": os.cpu_count(),
               "sched_autogroup": autogroup(),
               "load_before": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"machine: {machine}")
    results = []
    for name in args.models.split(","):
        r = bench_model(name.strip(), args)
        report(r)
        results.append(r)
    machine["load_after"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    print(f"\nload average {machine['load_before']:.1f} -> {machine['load_after']:.1f}; wrote {args.out}")


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
