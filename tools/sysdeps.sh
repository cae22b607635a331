#!/usr/bin/env bash
# Install the host tools patchloop's Docker backend uses to build its base image with no
# registry (mmdebstrap, from Debian's packages). Only acts when a Docker engine answers,
# the tool is missing and we may use apt-get; otherwise says what to do and carries on.
set -u
command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || exit 0
command -v mmdebstrap >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "patchloop: installing mmdebstrap (builds the sandbox base image offline)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
else
    echo "patchloop: mmdebstrap not found; install it (apt-get install mmdebstrap) to build the base image offline" >&2
fi
exit 0
