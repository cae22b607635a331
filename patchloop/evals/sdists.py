"""PyPI source releases (sdists), fetched once per machine: where bug-injected repositories come
from (``datagen repos --package``) and how their instances are rebuilt on another machine
(``evals.repos``' ``repo_sdist`` source), so an instance needs no repository beside it.

An sdist is fetched with ``pip download --no-deps --no-binary :all:`` into
``$PATCHLOOP_CACHE/sdists``; its sha256 is what an instance pins.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from patchloop.sandbox.images import cache_dir

_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


class SourceError(RuntimeError):
    """A repository cannot be prepared (bad spec, no sdist, unreadable archive)."""


def parse_package_spec(spec: str) -> tuple[str, str]:
    m = _SPEC.match(spec.strip())
    if not m:
        raise SourceError(f"package {spec!r}: expected NAME==VERSION (a pinned release)")
    return m.group(1), m.group(2)


def download_sdist(name: str, version: str) -> Path:
    """The sdist of ``name==version`` from the cache, downloaded once by pip."""
    dest = cache_dir() / "sdists"
    dest.mkdir(parents=True, exist_ok=True)
    found = _cached_sdist(dest, name, version)
    if found:
        return found
    pip = shutil.which("python3") or "python3"
    try:
        proc = subprocess.run([pip, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                               "--disable-pip-version-check", "-d", str(dest), f"{name}=={version}"],
                              capture_output=True, text=True, check=False, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SourceError(f"package {name}=={version}: pip download failed ({type(e).__name__}: {e})") from None
    found = _cached_sdist(dest, name, version)
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no sdist downloaded"])[-1]
        raise SourceError(f"package {name}=={version}: pip download failed ({last})")
    return found


def _cached_sdist(dest: Path, name: str, version: str) -> Path | None:
    want = re.sub(r"[-_.]+", "_", f"{name}-{version}").lower()
    for p in sorted(dest.iterdir()):
        stem = re.sub(r"\.(tar\.gz|tgz|zip|tar\.bz2)$", "", p.name)
        if stem != p.name and re.sub(r"[-_.]+", "_", stem).lower() == want:
            return p
    return None
