"""Per-step cost of sampling a batch, side by side: transformers' own path against patchloop's.

transformers samples a batch with its top-p warper (a sort of the whole vocabulary per row)
and ``torch.multinomial`` over the vocabulary; ``patchloop.llm.serving.row_sampling`` draws each row
by inverse CDF over top-p's candidates from a shortlist, with the row's own seed. Both run on
the same logits: the next-token logits a real model gives for real code prompts, 16 rows.

    .venv/bin/python bench/sampling.py [--model qwen2.5-coder-0.5b-instruct] [--rows 16] [--steps 20]

Prints milliseconds per step for each and the ratio; writes ``runs/bench/sampling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

PROMPTS = ['def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n', "import os\n\ndef walk(root):\n",
           "class Stack:\n    def __init__(self):\n", "def parse_date(text: str):\n    # accepts YYYY-MM-DD\n"]


def real_logits(path: str, rows: int):
    """Next-token logits of the model for ``rows`` code prompts (the prompts repeat)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for i in range(rows):
            ids = tok(PROMPTS[i % len(PROMPTS)], return_tensors="pt")
            out.append(model(**ids).logits[0, -1])
    return torch.stack(out)


def per_step_ms(fn, steps: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return round((time.perf_counter() - start) * 1000 / steps, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=0.95)
    args = ap.parse_args()
    import torch
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

    from patchloop.llm.catalog.models import resolve_model_path
    from patchloop.llm.serving.row_sampling import RowSampler

    logits = real_logits(resolve_model_path(args.model), args.rows)
    temp, top_p = TemperatureLogitsWarper(args.temperature), TopPLogitsWarper(args.top_p)

    def transformers_step():
        scores = top_p(None, temp(None, logits.clone()))
        return torch.multinomial(torch.softmax(scores, dim=-1), 1)

    ours = RowSampler(list(range(args.rows)), args.temperature, args.top_p, torch)
    result = {"model": args.model, "rows": args.rows, "vocabulary": logits.shape[-1],
              "machine": platform.processor() or platform.machine(), "load": os.getloadavg()[0],
              "transformers_ms": per_step_ms(transformers_step, args.steps),
              "patchloop_ms": per_step_ms(lambda: ours(None, logits), args.steps)}
    result["ratio"] = round(result["transformers_ms"] / result["patchloop_ms"], 2)
    out = Path("runs/bench/sampling.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()
    main()
