#!/usr/bin/env bash
# Make ./.venv ready for this clone, cheaply.
#
# Heavy dependencies (torch alone is several GB) live in ONE shared environment per
# (lock file, Python version) under $PATCHLOOP_CACHE (default ~/.cache/patchloop), built
# once. Each clone's .venv is a small venv that sees that shared site-packages through a
# .pth file and holds only an editable install of patchloop itself. So a second
# `make test`, or CI's fresh clone, neither downloads nor reinstalls torch; a change to
# requirements/lock.txt makes a new shared environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CACHE=${PATCHLOOP_CACHE:-$HOME/.cache/patchloop}
mkdir -p "$CACHE"

pyver=$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
pymm=${pyver%.*}
hash=$( { echo "$pyver"; cat requirements/lock.txt; } | sha256sum | cut -c1-16)
deps="$CACHE/deps-$hash"

uv="$CACHE/bootstrap/bin/uv"
if [ ! -x "$uv" ]; then
    echo "patchloop: bootstrapping uv into $CACHE/bootstrap" >&2
    "$PY" -m venv "$CACHE/bootstrap"
    "$CACHE/bootstrap/bin/pip" install -q uv
fi

(
    # One builder at a time per shared environment; others wait, then reuse it.
    flock 9
    if [ ! -f "$deps/.complete" ]; then
        echo "patchloop: installing dependencies into $deps (once per lock file)" >&2
        rm -rf "$deps"
        "$uv" venv -q --python "$PY" "$deps"
        "$uv" pip sync -q --python "$deps/bin/python" requirements/lock.txt
        touch "$deps/.complete"
    fi
) 9>"$CACHE/.lock-$hash"

stamp=.venv/.patchloop-deps
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
    rm -rf .venv
    "$uv" venv -q --python "$PY" .venv
    echo "import site; site.addsitedir('$deps/lib/python$pymm/site-packages')" \
        > ".venv/lib/python$pymm/site-packages/_patchloop_shared_deps.pth"
    "$uv" pip install -q --python .venv/bin/python --no-deps -e .
    echo "$hash" > "$stamp"
fi
