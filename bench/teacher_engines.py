"""Which local engine should serve the teacher? The same OSS-Instruct prompts, side by side.

Each engine is started in turn (never two at once: each wants every core), sent the same
``--requests`` OSS-Instruct prompts (rendered from real PyPI seed code, as the stage renders
them, with the stage's per-slot seeds) by ``--workers`` concurrent clients, and stopped. The
teacher datagen bench is dominated by this serving cost, so this says which engine makes the
500-task run fit a machine.

    .venv/bin/python bench/teacher_engines.py --requests 64 --workers 32 \\
        --llama-server "$(bash tools/llama_server.sh)" [--engines serve,llama-server]

Engines:
- ``serve``: ``patchloop serve`` (transformers, continuous batching, prefix cache; the dtype
  ``llm.device`` picks for this CPU), ``--max-batch`` = workers;
- ``serve-llamacpp``: ``patchloop serve --engine llamacpp`` (llama-cpp-python, one sequence at a
  time), if ``tools/llamacpp.sh`` has built it;
- ``llama-server``: llama.cpp's own server (``tools/llama_server.sh`` builds it from the same
  PyPI sdist), ``--parallel`` = workers, on the catalog model's GGUF.

Prints, per engine, completion tokens per second of wall time, requests per minute, prompt
tokens and the share its cache answered; writes ``runs/bench/teacher_engines.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prompts(seeds: Path, n: int) -> list[tuple[str, int]]:
    """(prompt, seed) of OSS-Instruct slots 0..n-1, exactly as the stage renders them."""
    from patchloop.datagen.instruct import common
    from patchloop.datagen.instruct.oss_instruct import STAGE, OssInstructConfig, snippet
    from patchloop.datagen.instruct.teacher import sample_seed
    from patchloop.types import read_jsonl

    rows = [r for r in read_jsonl(seeds) if str(r.get("text", "")).strip()]
    cfg = OssInstructConfig()
    out = []
    for slot in range(n):
        _, _, text = snippet(rows, random.Random(sample_seed(cfg.seed, STAGE, slot)), cfg)
        out.append((common.render("oss_instruct", snippet=text), sample_seed(cfg.seed, f"slot-{slot:05d}")))
    return out


def command(engine: str, args, port: int) -> list[str]:
    from patchloop.llm.catalog.models import resolve_model_path

    if engine == "llama-server":
        gguf = Path(resolve_model_path(args.model)).parent / "model.gguf"
        return [args.llama_server, "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port),
                "--parallel", str(args.workers), "--ctx-size", str(args.workers * args.slot_context),
                "--threads", str(os.cpu_count()), "--jinja", "--alias", "teacher", "--no-webui"]
    extra = ["--engine", "llamacpp"] if engine == "serve-llamacpp" else []
    return [sys.executable, "-m", "patchloop", "serve", "--model", args.model, "--name", "teacher",
            "--port", str(port), "--max-batch", str(args.workers), *extra]


def wait_ready(url: str, proc: subprocess.Popen, limit_s: float = 600) -> None:
    """Poll /v1/models until the server answers (loading a model takes a while)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5):
                return
        except OSError:
            time.sleep(2)
    raise SystemExit(f"no answer from {url} within {limit_s:.0f} s")


def measure(engine: str, args, work: list[tuple[str, int]], log: Path) -> dict:
    from patchloop.datagen.instruct.teacher import ChatTeacher

    port, url = args.port, f"http://127.0.0.1:{args.port}/v1"
    with open(log, "w") as err:
        proc = subprocess.Popen(command(engine, args, port), stdout=err, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            wait_ready(url, proc)
            teacher = ChatTeacher("openai:teacher", base_url=url, temperature=0.7, top_p=0.95,
                                  max_tokens=args.max_tokens, timeout=3600)
            start = time.monotonic()
            with ThreadPoolExecutor(args.workers) as pool:
                replies = list(pool.map(lambda w: teacher.ask(w[0], seed=w[1]), work))
            wall = time.monotonic() - start
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    done = sum(r.tokens for r in replies)
    prompt, cached = sum(r.prompt_tokens for r in replies), sum(r.cached_tokens for r in replies)
    return {"engine": engine, "requests": len(replies), "wall_s": round(wall, 1),
            "completion_tokens": done, "tokens_per_wall_s": round(done / wall, 1),
            "requests_per_min": round(60 * len(replies) / wall, 2), "prompt_tokens": prompt,
            "cached_prompt_tokens": cached, "cached_share": round(cached / prompt, 3) if prompt else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    ap.add_argument("--seeds", default="runs/bench/datagen-teacher/seeds/tasks.jsonl",
                    help="seed code (the datagen bench's seeds-pypi output)")
    ap.add_argument("--engines", default="serve,llama-server")
    ap.add_argument("--llama-server", default=None, help="the llama-server binary (tools/llama_server.sh)")
    ap.add_argument("--requests", type=int, default=96)
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--slot-context", type=int, default=2048, help="llama-server context per parallel slot")
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--out", default="runs/bench/teacher_engines.json")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "llama-server" in engines and not (args.llama_server and Path(args.llama_server).is_file()):
        raise SystemExit("--llama-server PATH is needed for the llama-server engine (bash tools/llama_server.sh)")
    if not Path(args.seeds).is_file():
        raise SystemExit(f"{args.seeds}: no seed code; run bench/datagen_teacher.py (its seeds-pypi stage) first")
    work = prompts(Path(args.seeds), args.requests)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    for engine in engines:
        print(f"{engine}: {args.requests} requests, {args.workers} at once ...", file=sys.stderr, flush=True)
        results.append(measure(engine, args, work, out.with_name(f"{out.stem}-{engine}.log")))
        print(json.dumps(results[-1]), flush=True)
    base = results[0]["tokens_per_wall_s"]
    for r in results:
        r["ratio_to_first"] = round(r["tokens_per_wall_s"] / base, 2) if base else None
    machine = {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "load_before": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out.write_text(json.dumps({"machine": machine, "args": vars(args), "results": results}, indent=2))
    print("| engine | requests/min | completion tok/s of wall | prompt tokens (cached) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['engine']} | {r['requests_per_min']} | {r['tokens_per_wall_s']} | "
              f"{r['prompt_tokens']} ({r['cached_share']:.0%}) | {r['ratio_to_first']}x |")


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()
    main()
