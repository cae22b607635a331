"""float32 vs bfloat16 on this CPU, side by side: which dtype should a local model run in here?

On CPUs with AMX bf16 is several times faster (``bench/inference.py``); on CPUs without it
(AVX-512-BF16 alone included), compute-bound work (prefill, batched decoding, training) is
slower in bf16, while memory-bound decoding of one sequence can still gain. ``llm.device`` and the
training presets' ``dtype: auto`` pick float32 there; this bench measures why.

    .venv/bin/python bench/cpu_dtype.py [--model qwen2.5-coder-0.5b-instruct] [--tokens 32] [--prefill 1024]

Prints decode tokens/s (1, 8 and 32 sequences, greedy, a fixed number of new tokens) and prefill
tokens/s of one prompt, for each dtype, and the bf16/fp32 ratios; writes ``runs/bench/cpu_dtype.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def measure(path: str, dtype, tokens: int, prefill: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    prompt = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n'
    out = {}
    with torch.no_grad():
        for rows in (1, 8, 32):
            ids = tok([prompt] * rows, return_tensors="pt")
            model.generate(**ids, max_new_tokens=4, do_sample=False)  # warm-up
            t = time.perf_counter()
            model.generate(**ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
            out[f"decode_x{rows}_tok_s"] = round(rows * tokens / (time.perf_counter() - t), 2)
        ids = torch.randint(100, 20000, (1, prefill), generator=torch.Generator().manual_seed(0))
        model(ids[:, :64])
        t = time.perf_counter()
        model(ids)
        out["prefill_tok_s"] = round(prefill / (time.perf_counter() - t), 2)
    return out


def main() -> None:
    import torch

    from patchloop.llm.catalog.models import resolve_model_path
    from patchloop.llm.device import cpu_has_fast_bf16

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--prefill", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default="runs/bench/cpu_dtype.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path = resolve_model_path(args.model)
    flags = open("/proc/cpuinfo").read() if Path("/proc/cpuinfo").exists() else ""
    machine = {"bf16_hardware": cpu_has_fast_bf16(), "avx512f": " avx512f " in flags, "threads": args.threads,
               "load_before": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"machine: {machine}", flush=True)
    res = {name: measure(path, getattr(torch, name), args.tokens, args.prefill) for name in ("float32", "bfloat16")}
    for name, r in res.items():
        print(f"{name:>9}: " + ", ".join(f"{k} {v}" for k, v in r.items()))
    ratios = {k: round(res["bfloat16"][k] / res["float32"][k], 2) for k in res["float32"]}
    print("bf16 / fp32: " + ", ".join(f"{k} {v}x" for k, v in ratios.items()))
    machine["load_after"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "model": args.model, "results": res,
                                          "ratios": ratios}, indent=2))


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
