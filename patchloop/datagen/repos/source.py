"""Where a repository comes from: a PyPI sdist (``NAME==VERSION``) or a local directory.

An sdist is fetched once with ``pip download --no-deps --no-binary :all:`` into
``$PATCHLOOP_CACHE/sdists`` and unpacked through the harness's own archive path
(``checkout_task_repo`` with ``repo_archive``): one root commit with a fixed identity, so the
base commit id is a function of the files alone. A local directory (git or not) goes through
the same path (``repo_path``). The result is the *source repository* every buggy commit of
the package is later written into (``candidates.write_buggy_commit``).

What is read from the metadata (``PKG-INFO`` or ``pyproject.toml``): the licence (SPDX
expression when the file has one), the runtime requirements (no extras: test plugins such as
pytest-cov are left out on purpose, and ``addopts`` is cleared so their options do not fail),
and the layout (``src/`` puts the package on ``PYTHONPATH``).
"""

from __future__ import annotations

import email.parser
import hashlib
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.evals.repos import checkout_task_repo, git
from patchloop.evals.sdists import SourceError, download_sdist, parse_package_spec
from patchloop.types import Task

BASE_REQUIREMENTS = ("pytest", "coverage")


@dataclass
class RepoSource:
    """A prepared repository: name, version, base commit in ``path`` and its environment."""

    name: str
    version: str
    path: Path
    base_commit: str
    license: str = ""
    requirements: list[str] = field(default_factory=list)
    test_cmd: str = "python -m pytest -o addopts="
    origin: str = ""
    slug: str = ""  # names its directories and instance ids: NAME-VERSION, or a local dir's name
    sdist_sha256: str = ""  # a PyPI release's file, pinned by its instances (``repo_sdist``)


def prepare_source(out_dir: Path, *, package: str = "", repo: str = "") -> RepoSource:
    """Unpack ``package`` (NAME==VERSION) or copy ``repo`` into ``out_dir/repos/<slug>`` as a
    git repository with one base commit. Reuses an existing one with the same files."""
    if bool(package) == bool(repo):
        raise SourceError("give exactly one of a package (NAME==VERSION) and a repository path")
    if package:
        name, version = parse_package_spec(package)
        archive = download_sdist(name, version)
        task = Task(f"prepare-{name}", extra={"repo_archive": str(archive)})
        origin = f"pypi:{name}=={version}"
        sdist_sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    else:
        src = Path(repo).expanduser().resolve()
        if not src.is_dir():
            raise SourceError(f"repository {repo}: not a directory")
        name, version = src.name, ""
        task = Task(f"prepare-{name}", extra={"repo_path": str(src)})
        origin, sdist_sha256 = f"path:{src}", ""
    slug = f"{name}-{version}" if version else name
    dest = out_dir / "repos" / slug
    base = git(dest, "rev-parse", "-q", "--verify", "refs/patchloop/base", check=False) if dest.is_dir() else ""
    if not base:  # a resumed run keeps the repository: its buggy commits are instances' bases
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        checkout_task_repo(task, dest)
        base = git(dest, "rev-parse", "HEAD")
        git(dest, "update-ref", "refs/patchloop/base", base)
    meta = read_metadata(dest)
    return RepoSource(name=meta.get("name") or name, version=version or meta.get("version", ""), path=dest, slug=slug,
                      base_commit=base, license=meta.get("license", ""),
                      requirements=sorted(set(BASE_REQUIREMENTS) | set(meta.get("requires", []))),
                      test_cmd=_test_cmd(dest), origin=origin,
                      sdist_sha256=sdist_sha256)


def _test_cmd(root: Path) -> str:
    prefix = "PYTHONPATH=src " if (root / "src").is_dir() else ""
    return f"{prefix}python -m pytest -o addopts="


def read_metadata(root: Path) -> dict:
    """name, version, license and runtime requires from PKG-INFO, else pyproject.toml."""
    info = root / "PKG-INFO"
    if info.exists():
        msg = email.parser.Parser().parsestr(info.read_text(encoding="utf-8", errors="replace"))
        lic = msg.get("License-Expression") or _short_licence(msg.get("License", "")) or _classifier_licence(
            msg.get_all("Classifier") or [])
        requires = [r for r in (msg.get_all("Requires-Dist") or []) if "extra" not in r]
        return {"name": msg.get("Name", ""), "version": msg.get("Version", ""), "license": lic,
                "requires": _applicable(requires)}
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        try:
            proj = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        except tomllib.TOMLDecodeError:
            return {}
        lic = proj.get("license", "")
        lic = lic.get("text", "") if isinstance(lic, dict) else lic
        return {"name": proj.get("name", ""), "version": str(proj.get("version", "")),
                "license": _short_licence(lic) or _classifier_licence(proj.get("classifiers", [])),
                "requires": _applicable(proj.get("dependencies", []))}
    return {}


def _short_licence(text: str) -> str:
    text = (text or "").strip()
    return text if text and "\n" not in text and len(text) < 60 and text.upper() != "UNKNOWN" else ""


def _classifier_licence(classifiers: list[str]) -> str:
    for c in classifiers:
        if c.startswith("License :: OSI Approved :: "):
            return c.rsplit(" :: ", 1)[-1].removesuffix(" License")
    return ""


def _applicable(requires: list[str]) -> list[str]:
    """Requirements whose environment marker holds on the image's Python 3.11 / Linux."""
    from packaging.requirements import InvalidRequirement, Requirement

    env = {"python_version": "3.11", "python_full_version": "3.11.2", "sys_platform": "linux",
           "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "extra": ""}
    out = []
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is None or req.marker.evaluate(env):
            out.append(str(req).split(";")[0].strip())
    return out
