"""Benchmark the llama.cpp engine on the real GGUF models: prefill and one-sequence decoding.

For each model: tokens/s of prefilling a 3,200-token prompt of real code (cache cleared
first), and tokens/s of greedy decoding one sequence (timed from the first sampled token
to the last, so prefill is not in it). Both models side by side, one after the other, with
the load average next to each figure: on a shared machine only ratios measured together hold.

    .venv/bin/python bench/llamacpp.py [--models NAME ...] [--prompt-tokens 3200] [--decode-tokens 64]

Needs ``bash tools/llamacpp.sh`` and ``patchloop model fetch NAME``. Prints a table and
writes ``runs/bench/llamacpp.json``. ``bench_llamacpp`` is importable by a bench that puts
these figures beside other engines'.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]
DECODE_PROMPT = [
    {
        "role": "user",
        "content": "Write a Python module with a priority queue class, full docstrings and tests.",
    }
]


def code_prompt(engine, n_tokens: int) -> list[int]:
    """Exactly ``n_tokens`` ids of this repository's own Python source, as a prompt."""
    text = "".join(p.read_text() for p in sorted((ROOT / "patchloop").rglob("*.py")))
    ids = engine.tokenizer.encode(text)
    if len(ids) < n_tokens:
        ids = ids * (n_tokens // max(1, len(ids)) + 1)
    return ids[:n_tokens]


def bench_llamacpp(
    model: str, *, prompt_tokens: int = 3200, decode_tokens: int = 64, n_threads: int | None = None
):
    """``{prefill_tok_s, decode_tok_s, ...}`` for one GGUF model on the llama.cpp engine."""
    from patchloop.llm.serving.engines.llamacpp import load_engine

    start = time.perf_counter()
    engine = load_engine(model, n_ctx=max(4096, prompt_tokens + decode_tokens + 64), n_threads=n_threads)
    out: dict = {"model": model, "engine": "llama.cpp", "load_s": round(time.perf_counter() - start, 1)}

    prompt = code_prompt(engine, prompt_tokens)
    start = time.perf_counter()
    engine.backend.eval(prompt, 0)  # keep=0: nothing reused
    elapsed = time.perf_counter() - start
    out.update(
        prompt_tokens=len(prompt), prefill_s=round(elapsed, 2), prefill_tok_s=round(len(prompt) / elapsed, 1)
    )

    stamps: list[float] = []
    gen = engine.generate(
        engine.render(DECODE_PROMPT),
        max_new_tokens=decode_tokens,
        temperature=0,
        use_cache=False,
        on_token=lambda _t: stamps.append(time.perf_counter()),
    )
    n = len(gen.token_ids)
    decode_s = stamps[-1] - stamps[0] if n > 1 else float("nan")
    out.update(
        decode_tokens=n,
        decode_s=round(decode_s, 2),
        decode_tok_s=round((n - 1) / decode_s, 2) if n > 1 else None,
    )
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return out


def build_info() -> dict:
    """What was built: llama.cpp's own report of the instruction sets compiled in."""
    import llama_cpp

    args = Path(llama_cpp.__file__).parents[2] / "cmake-args.txt"  # written by tools/llamacpp.sh
    return {
        "llama_cpp_python": llama_cpp.__version__,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "cmake_args": args.read_text().strip() if args.is_file() else None,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--prompt-tokens", type=int, default=3200)
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None, help="default: every core this process may use")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench" / "llamacpp.json"))
    a = ap.parse_args(argv)
    from patchloop.llm import LLMError

    rows = []
    for model in a.models:
        try:
            rows.append(
                bench_llamacpp(
                    model, prompt_tokens=a.prompt_tokens, decode_tokens=a.decode_tokens, n_threads=a.threads
                )
            )
        except LLMError as e:
            print(f"{model}: {e}", file=sys.stderr)
            continue
        r = rows[-1]
        print(
            f"{model:32} prefill {r['prompt_tokens']} tok: {r['prefill_tok_s']:8.1f} tok/s   "
            f"decode {r['decode_tokens']} tok: {r['decode_tok_s']} tok/s   load {r['loadavg_1m']}",
            flush=True,
        )
    if not rows:
        return 1
    result = {"build": build_info(), "threads": a.threads, "rows": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
