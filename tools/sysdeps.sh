#!/usr/bin/env bash
# Install the host tools patchloop needs beyond its venv, from Debian's packages:
# - mmdebstrap, which builds the sandbox base image with no registry (only when a Docker
#   engine answers);
# - chromium, in which the tests render the HTML reports headless and screenshot them.
# Acts only when a tool is missing and we may use apt-get (root); otherwise says what to
# install and carries on.
set -u

missing=()
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
fi
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || command -v google-chrome >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "patchloop: installing ${missing[*]} (sandbox base image offline; headless report tests)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "patchloop: ${missing[*]} not found; install with: apt-get install ${missing[*]}" >&2
fi
exit 0
