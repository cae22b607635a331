#!/usr/bin/env bash
# Build llama-cpp-python for this CPU, once, and make it importable from a venv (default ./.venv).
#
#   bash tools/llamacpp.sh                 # build (first time: ~7 min on 2 cores), link into .venv
#   PYTHON=/path/to/venv/bin/python bash tools/llamacpp.sh
#
# Why not `pip install llama-cpp-python`: PyPI has only the sdist, and its default build
# (GGML_NATIVE=ON, i.e. -march=native) loads GGUF files here but crashes on the first
# evaluation; see docs/benchmarks.md. This script builds with GGML_NATIVE=OFF and names the
# instruction sets this CPU has (from /proc/cpuinfo), with AMX off. The build lands in
# $PATCHLOOP_CACHE/llamacpp-<hash>/ (hash of version + flags), its log in build.log there;
# the venv gets a .pth file pointing at it, as tools/venv.sh does for the shared deps.
# Rerunning is instant. LLAMACPP_CMAKE_ARGS overrides the flags (a new hash, a new build).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
PY=${PYTHON:-.venv/bin/python}
CACHE=${PATCHLOOP_CACHE:-$HOME/.cache/patchloop}

[ -x "$PY" ] || { echo "llamacpp.sh: no python at $PY (run tools/venv.sh first, or set PYTHON)" >&2; exit 1; }

source tools/ggml_flags.sh
ARGS=${LLAMACPP_CMAKE_ARGS:-$(ggml_cpu_flags)}
hash=$(echo "$VERSION $ARGS" | sha256sum | cut -c1-12)
dest="$CACHE/llamacpp-$hash"
mkdir -p "$CACHE"

(
    flock 9
    if [ ! -f "$dest/.complete" ]; then
        echo "llamacpp.sh: building llama-cpp-python $VERSION into $dest (log: $dest/build.log)" >&2
        echo "llamacpp.sh: CMAKE_ARGS=$ARGS" >&2
        rm -rf "$dest" && mkdir -p "$dest"
        python3 -m venv "$dest/tools"
        {
            "$dest/tools/bin/pip" install -q scikit-build-core cmake ninja &&
            # --no-build-isolation: pip would otherwise compile cmake from source to read metadata
            "$dest/tools/bin/pip" download -q --no-deps --no-build-isolation --no-binary llama-cpp-python \
                -d "$dest/sdist" "llama-cpp-python==$VERSION" &&
            CMAKE_ARGS="$ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$dest/tools/bin/pip" wheel -v --no-deps \
                --no-build-isolation -w "$dest/wheel" "$dest"/sdist/llama_cpp_python-*.tar.gz &&
            "$dest/tools/bin/pip" install -q --no-deps --target "$dest/site" "$dest"/wheel/*.whl "diskcache==5.6.3"
        } >"$dest/build.log" 2>&1 || { echo "llamacpp.sh: build failed, see $dest/build.log" >&2; exit 1; }
        echo "build seconds: $SECONDS" >>"$dest/build.log"
        rm -rf "$dest/tools" "$dest/sdist"
        echo "$ARGS" >"$dest/cmake-args.txt"
        touch "$dest/.complete"
    fi
) 9>"$CACHE/.lock-llamacpp-$hash"

site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('$dest/site')" >"$site/_patchloop_llamacpp.pth"
"$PY" -c 'import llama_cpp; print("llama_cpp", llama_cpp.__version__, "importable from", llama_cpp.__file__)'
