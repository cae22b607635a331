"""Seeds from packages: real pip on locally built archives, licence and PII filters on
planted cases, documented functions cut out with tree-sitter."""

from __future__ import annotations

import io
import tarfile
import zipfile

from patchloop.datagen.instruct.pypi import PypiSeedsConfig, read_archive, run_pypi_seeds
from patchloop.datagen.instruct.seed_functions import (
    SeedFunctionsConfig,
    documented_functions,
    run_seed_functions,
)
from patchloop.types import read_jsonl

MODULE = '''"""Helpers. Written by dev@corp-mail.io"""
import re

TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"


def slugify(text):
    """Lower-case text and join its words with dashes."""
    words = re.findall(r"\\w+", text.lower())
    return "-".join(words)


def undocumented(x):
    y = x * 2
    return y


@staticmethod
def clamp(x, lo, hi):
    """Clamp x into [lo, hi]."""
    return max(lo, min(hi, x))


class Box:
    def size(self):
        """Methods are not seeds."""
        return 1
'''


def _wheel(where, name, licence_lines):
    dist = f"{name}-1.0.dist-info"
    path = where / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", MODULE)
        z.writestr(f"{name}/tests/test_x.py", "def test():\n    pass\n")
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.0\n{licence_lines}")
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")
    return path


def test_seeds_from_pip_downloads_keep_permissive_packages_only_with_pii_replaced(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    _wheel(index, "goodpkg", "License-Expression: MIT\n")
    _wheel(index, "gplpkg", "License-Expression: GPL-3.0-only\n")
    cfg = PypiSeedsConfig(packages=["goodpkg", "gplpkg", "absentpkg"],
                          pip_args=["--no-index", "--find-links", str(index)])
    stats = run_pypi_seeds(tmp_path / "seeds", cfg, cache=tmp_path / "cache", progress=False)
    rows = read_jsonl(tmp_path / "seeds" / "tasks.jsonl")
    assert [(r["package"], r["licence"], r["path"]) for r in rows] == [("goodpkg", "MIT", "goodpkg/__init__.py")]
    assert "dev@corp-mail.io" not in rows[0]["text"] and "<EMAIL>" in rows[0]["text"]
    assert 'TOKEN = "<KEY>"' in rows[0]["text"]
    assert stats["drops"] == {"download_failed": 1, "licence": 1}
    assert stats["counts"]["pii_email"] == 1 and stats["counts"]["pii_key"] == 1
    assert (tmp_path / "cache" / "goodpkg-1.0-py3-none-any.whl").exists()


def test_sdists_are_read_with_their_pkg_info(tmp_path):
    path = tmp_path / "sdpkg-2.0.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        for name, text in (("sdpkg-2.0/PKG-INFO", "Name: sdpkg\nVersion: 2.0\nLicense: BSD\n"),
                           ("sdpkg-2.0/sdpkg/core.py", MODULE), ("sdpkg-2.0/setup.py", "setup()\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    meta, files = read_archive(path, 10)
    assert "License: BSD" in meta and [n for n, _ in files] == ["sdpkg-2.0/sdpkg/core.py"]


def test_documented_top_level_functions_only():
    found = dict(documented_functions(MODULE))
    assert sorted(found) == ["clamp", "slugify"]
    assert found["clamp"].startswith("@staticmethod\ndef clamp") and found["slugify"].endswith('return "-".join(words)')
    assert list(documented_functions(MODULE, SeedFunctionsConfig(max_lines=3))) == []  # both are 4 lines
    assert list(documented_functions(MODULE, SeedFunctionsConfig(min_lines=5))) == []
    assert list(documented_functions("def broken(:\n    '''doc'''\n    return 1\n")) == []


def test_seed_functions_stage_keeps_provenance_and_drops_exact_copies(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    import json

    rows = [{"id": f"p==1:m{i}.py", "package": "p", "version": "1", "licence": "MIT", "path": f"m{i}.py",
             "text": MODULE} for i in range(2)]
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats = run_seed_functions(seeds, tmp_path / "fns", SeedFunctionsConfig(), progress=False)
    out = read_jsonl(tmp_path / "fns" / "tasks.jsonl")
    assert [(r["name"], r["path"], r["licence"]) for r in out] == [("slugify", "m0.py", "MIT"), ("clamp", "m0.py", "MIT")]
    assert stats["drops"] == {"duplicate": 2}
