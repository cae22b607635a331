"""Seed code from real packages: ``pip download --no-deps`` into the cache, Python sources
read straight out of the wheel or sdist, the licence from the package's core metadata.

Only packages whose metadata declares a permissive licence (``filters.licence``) give seeds;
every seed file carries its package, version and licence, and has PII and secrets replaced
before any teacher sees it. One package is one item of the stage: a killed run resumes at the
next package.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from patchloop.datagen.filters.licence import from_metadata
from patchloop.datagen.filters.pii import redact
from patchloop.datagen.instruct.common import run_items
from patchloop.datagen.instruct.stage import Outcome, Stage

STAGE = "seeds-pypi"
MAX_FILE_BYTES = 200_000
_SKIP_PARTS = {"tests", "test", "testing", "docs", "examples", "benchmarks", "_vendor", "vendor"}


class PypiSeedsConfig(BaseModel):
    packages: list[str] = Field(description="Requirements to download (NAME or NAME==VERSION), one seed source each.")
    pip_args: list[str] = Field(default_factory=list, description="Extra pip arguments (an index, --no-index --find-links DIR).")
    max_files: int = Field(200, description="Python files read per package at most.")


def cache_dir() -> Path:
    return Path(os.environ.get("PATCHLOOP_CACHE", Path.home() / ".cache" / "patchloop")) / "pypi"


def pip_command() -> list[str]:
    """This interpreter's pip where it has one, else the pip on PATH."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if shutil.which(name):
            return [shutil.which(name)]
    raise RuntimeError("no pip found: install pip to download seed packages")


def download(requirement: str, dest: Path, pip_args: list[str]) -> Path:
    """The archive pip downloads for ``requirement`` (cached: pip reuses a file already there)."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    cmd = [*pip_command(), "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", str(dest),
           *pip_args, requirement]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(" ".join((res.stderr or res.stdout).split())[-300:])
    new = sorted(set(dest.iterdir()) - before)
    if new:
        return new[0]
    name = requirement.split("==")[0].replace("-", "_").lower()
    found = [p for p in dest.iterdir() if p.name.lower().replace("-", "_").startswith(name)]
    if not found:
        raise RuntimeError(f"pip reported success but left no archive for {requirement}")
    return max(found, key=lambda p: p.stat().st_mtime)


def read_archive(path: Path, max_files: int) -> tuple[str, list[tuple[str, str]]]:
    """(core metadata text, [(path, source)]) of a wheel or an sdist."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            meta = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
            text = z.read(meta).decode("utf-8", "replace") if meta else ""
            files = [(n, z.read(n)) for n in _python_files(names, max_files, lambda n: z.getinfo(n).file_size)]
    elif path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as t:
            members = {m.name: m for m in t.getmembers() if m.isfile()}
            meta = next((n for n in sorted(members, key=len) if n.endswith("/PKG-INFO")), None)
            text = t.extractfile(members[meta]).read().decode("utf-8", "replace") if meta else ""
            files = [(n, t.extractfile(members[n]).read())
                     for n in _python_files(list(members), max_files, lambda n: members[n].size)]
    else:
        raise RuntimeError(f"{path.name}: neither a wheel nor a .tar.gz sdist")
    return text, [(n, b.decode("utf-8", "replace")) for n, b in files]


def _python_files(names: list[str], limit: int, size: Callable[[str], int]) -> Iterator[str]:
    count = 0
    for n in sorted(names):
        parts = set(Path(n).parts[:-1])
        if not n.endswith(".py") or parts & _SKIP_PARTS or Path(n).name in ("setup.py", "conftest.py"):
            continue
        if size(n) > MAX_FILE_BYTES or size(n) == 0:
            continue
        yield n
        count += 1
        if count >= limit:
            return


def run_pypi_seeds(out: Path, cfg: PypiSeedsConfig, *, cache: Path | None = None, progress: bool = True,
                   warn: Callable[[str], None] | None = None) -> dict:
    """Seeds for OSS-Instruct and SelfCodeAlign in ``out/tasks.jsonl`` (one row per file)."""
    stage = Stage(out, STAGE, {"config": cfg.model_dump()})
    dest = cache or cache_dir()

    def process(key: str, requirement: str) -> Outcome:
        outcome = Outcome()
        try:
            archive = download(requirement, dest, cfg.pip_args)
            meta, files = read_archive(archive, cfg.max_files)
        except (RuntimeError, OSError, zipfile.BadZipFile, tarfile.TarError, subprocess.TimeoutExpired) as e:
            outcome.drop(f"download_failed: {requirement}: {e}")
            return outcome
        licence = from_metadata(meta)
        outcome.counts["files"] += len(files)
        if not licence.permissive:
            outcome.drop(f"licence: {requirement}: {licence.reason}")
            return outcome
        name, version = _name_version(meta, archive)
        for path, text in files:
            red = redact(text)
            outcome.counts.update({f"pii_{k.lower()}": v for k, v in red.counts.items()})
            outcome.rows.append({"id": f"{name}=={version}:{path}", "package": name, "version": version,
                                 "licence": licence.spdx, "licence_source": licence.source, "archive": archive.name,
                                 "path": path, "text": red.text})
            outcome.counts["kept"] += 1
        return outcome

    return run_items(stage, [(p, p) for p in cfg.packages], process, progress=progress, warn=warn)


def _name_version(meta: str, archive: Path) -> tuple[str, str]:
    from email.parser import HeaderParser

    msg = HeaderParser().parsestr(meta)
    return str(msg.get("Name") or archive.name.split("-")[0]), str(msg.get("Version") or "")
