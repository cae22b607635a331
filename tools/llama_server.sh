#!/usr/bin/env bash
# Build llama.cpp's own OpenAI-compatible server (llama-server) for this CPU, once.
#
#   bash tools/llama_server.sh          # prints the binary's path (first time: ~20 min on 2 cores)
#
# Why: `patchloop serve --engine llamacpp` (llama-cpp-python) decodes one sequence at a time,
# and transformers on a CPU without AMX is slow in bf16 and heavy in float32. llama-server
# decodes many requests together (--parallel) on int8 dot products, which is what a teacher
# generating thousands of tasks needs (bench/teacher_engines.py measures it beside serve).
# The sources are the llama.cpp vendored in the same PyPI sdist tools/llamacpp.sh builds (no
# other registry), with the same CPU flags (tools/ggml_flags.sh). The build lands in
# $PATCHLOOP_CACHE/llama-server-<hash>/ (hash of version + flags), its log in build.log there.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
CACHE=${PATCHLOOP_CACHE:-$HOME/.cache/patchloop}
source tools/ggml_flags.sh
ARGS=${LLAMACPP_CMAKE_ARGS:-$(ggml_cpu_flags)}
hash=$(echo "server $VERSION $ARGS" | sha256sum | cut -c1-12)
dest="$CACHE/llama-server-$hash"
mkdir -p "$CACHE"

(
    flock 9
    if [ ! -f "$dest/.complete" ]; then
        echo "llama_server.sh: building llama-server from llama-cpp-python $VERSION into $dest (log: $dest/build.log)" >&2
        rm -rf "$dest" && mkdir -p "$dest"
        python3 -m venv "$dest/tools"
        {
            "$dest/tools/bin/pip" install -q scikit-build-core cmake ninja &&
            "$dest/tools/bin/pip" download -q --no-deps --no-build-isolation --no-binary llama-cpp-python \
                -d "$dest/sdist" "llama-cpp-python==$VERSION" &&
            tar -xzf "$dest"/sdist/llama_cpp_python-*.tar.gz -C "$dest/sdist" &&
            src=$(echo "$dest"/sdist/llama_cpp_python-*/vendor/llama.cpp) &&
            PATH="$dest/tools/bin:$PATH" cmake -S "$src" -B "$dest/build" -G Ninja -DCMAKE_BUILD_TYPE=Release $ARGS \
                -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF &&
            PATH="$dest/tools/bin:$PATH" cmake --build "$dest/build" --target llama-server -j "$(nproc)" &&
            mkdir -p "$dest/bin" && cp "$dest"/build/bin/llama-server "$dest/bin/"  # static: needs no build dir
        } >"$dest/build.log" 2>&1 || true
        [ -x "$dest/bin/llama-server" ] || { echo "llama_server.sh: build failed, see $dest/build.log" >&2; exit 1; }
        echo "build seconds: $SECONDS" >>"$dest/build.log"
        rm -rf "$dest/tools" "$dest/sdist" "$dest/build"
        echo "$ARGS" >"$dest/cmake-args.txt"
        touch "$dest/.complete"
    fi
) 9>"$CACHE/.lock-llama-server-$hash"

"$dest/bin/llama-server" --version >&2 2>/dev/null || true
echo "$dest/bin/llama-server"
