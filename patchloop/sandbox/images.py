"""Sandbox images built with no registry: a Debian base and per-repository environments.

Why not ``FROM python:3.11-slim``? Often no registry answers (air-gapped CI, this machine).
The base is then a Debian root filesystem made from the host's own apt sources by
``mmdebstrap`` (or ``debootstrap`` + ``tar``) and turned into an image with ``docker import``.
Where a registry image is already present (or ``from_registry`` lets us pull one), the base
starts ``FROM python:3.11-slim`` instead. Either way the base holds python3, pip, venv, git,
patch and procps, a non-root user ``sandbox`` (uid 1000) and a ``/workspace`` it owns.

Environment images (``ensure_env_image``) add a repository's Python dependencies from a
wheelhouse built on the host with ``pip wheel`` and installed with ``pip install --no-index``
into ``/opt/venv`` (bookworm's pip is PEP 668 "externally managed"; a venv avoids fighting
it), with the build's network turned off.

Every image is tagged by a hash of what went into it (recipe version, packages, suite,
requirements, setup commands, the base image id), so an image is built once and reused
until one of those inputs changes. Builds hold a file lock, so parallel test processes
build each image once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from patchloop.sandbox.base import SandboxError
from patchloop.sandbox.client import owner_labels
from patchloop.sandbox.engine import require_docker_client, sdk
from patchloop.sandbox.host_python import host_pip_python

# Bump when the recipe below changes in a way the hash inputs do not show.
RECIPE_VERSION = 2
SUITE = "bookworm"
PYTHON_VERSION = "3.11"  # what bookworm ships; env images need a host python of the same minor
BASE_PACKAGES = ("python3", "python3-pip", "python3-venv", "git", "ca-certificates", "patch", "procps")
REGISTRY_BASE = "python:3.11-slim"
BASE_REPO = "patchloop/base"
ENV_REPO = "patchloop/env"
SANDBOX_UID = 1000
LABEL = "patchloop.recipe"
# Docs, man pages and translations are a third of the root filesystem and no test reads them.
_DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
_IMAGE_ENV = {
    "PATH": "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def cache_dir() -> Path:
    """Where rootfs builds, wheelhouses and build locks live (``$PATCHLOOP_CACHE`` overrides)."""
    root = os.environ.get("PATCHLOOP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "patchloop"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _hash(parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """Serialise builds of one image across processes (pytest-xdist, parallel batch workers)."""
    lock_dir = cache_dir() / "locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _client(client: Any = None) -> Any:
    return require_docker_client(client, who="images", timeout=600)


def _image_exists(client: Any, tag: str) -> bool:
    docker = sdk()

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


# ---------------------------------------------------------------- base image


def base_recipe() -> dict[str, Any]:
    """Everything that decides the Debian base image's content; its hash is the tag."""
    return {
        "recipe": RECIPE_VERSION,
        "kind": "debian-rootfs",
        "suite": SUITE,
        "packages": sorted(BASE_PACKAGES),
        "excludes": list(_DPKG_EXCLUDES),
        "uid": SANDBOX_UID,
        "env": _IMAGE_ENV,
    }


def base_tag(recipe: dict[str, Any] | None = None) -> str:
    """The tag of the base image a recipe produces: ``patchloop/base:<hash>``."""
    return f"{BASE_REPO}:{_hash(recipe or base_recipe())}"


def ensure_base_image(client: Any = None, *, rebuild: bool = False, from_registry: bool = False) -> str:
    """Return the tag of the sandbox base image, building it when it is missing.

    Uses ``python:3.11-slim`` when that image is present locally (or, with ``from_registry``,
    can be pulled), otherwise builds a Debian root filesystem offline. ``rebuild`` forces a
    fresh build under the same tag. Raises ``SandboxError`` with one clear line on failure.
    """
    client = _client(client)
    registry_image = _registry_base(client, pull=from_registry)
    if registry_image is not None:
        recipe = {"recipe": RECIPE_VERSION, "kind": "registry", "from": registry_image.id,
                  "uid": SANDBOX_UID, "env": _IMAGE_ENV}
    else:
        recipe = base_recipe()
    tag = base_tag(recipe)
    if not rebuild and _image_exists(client, tag):
        return tag
    with _build_lock("base"):
        if not rebuild and _image_exists(client, tag):  # another process built it meanwhile
            return tag
        if registry_image is not None:
            _build_from_registry(client, tag, recipe)
        else:
            _build_from_rootfs(client, tag, recipe)
    return tag


def _registry_base(client: Any, *, pull: bool) -> Any:
    """The registry base image if present (or pullable when allowed), else None."""
    docker = sdk()
    try:
        return client.images.get(REGISTRY_BASE)
    except docker.errors.ImageNotFound:
        pass
    if not pull:
        return None
    try:
        # A short timeout: with no registry the pull should fail fast, not hang a build.
        quick = docker.APIClient(base_url=client.api.base_url, timeout=60)
        repo, tag = REGISTRY_BASE.split(":")
        quick.pull(repo, tag=tag)
        return client.images.get(REGISTRY_BASE)
    except (docker.errors.DockerException, OSError) as e:  # no registry, a timeout, no such image
        print(f"patchloop: cannot pull {REGISTRY_BASE} ({str(e).splitlines()[0][:160]}); "
              "building the base offline instead", file=sys.stderr)
        return None


def _labels(recipe: dict[str, Any]) -> dict[str, str]:
    return {LABEL: json.dumps(recipe, sort_keys=True), "patchloop.python": PYTHON_VERSION}


def _build_from_registry(client: Any, tag: str, recipe: dict[str, Any]) -> None:
    """``FROM python:3.11-slim`` plus git, patch, procps (needs apt mirrors during the build)."""
    dockerfile = "\n".join([
        f"FROM {REGISTRY_BASE}",
        ("RUN apt-get update && apt-get install -y --no-install-recommends git patch procps "
         "ca-certificates && rm -rf /var/lib/apt/lists/*"),
        (f"RUN useradd --create-home --uid {SANDBOX_UID} --shell /bin/bash sandbox "
         f"&& mkdir -p /workspace && chown {SANDBOX_UID}:{SANDBOX_UID} /workspace"),
        *[f"ENV {k}={v}" for k, v in _IMAGE_ENV.items()],
        "WORKDIR /workspace",
        'CMD ["/bin/bash"]',
    ])
    _docker_build(client, tag, dockerfile, {}, labels=_labels(recipe), network=True)


def rootfs_command(out: Path) -> list[str]:
    """The mmdebstrap (or debootstrap) invocation that makes the base root filesystem."""
    hooks = [
        f'chroot "$1" useradd --create-home --uid {SANDBOX_UID} --shell /bin/bash sandbox',
        f'mkdir -p "$1/workspace" && chown {SANDBOX_UID}:{SANDBOX_UID} "$1/workspace"',
    ]
    if shutil.which("mmdebstrap"):
        return [
            "mmdebstrap", "--variant=apt", f"--include={','.join(BASE_PACKAGES)}",
            *[f"--dpkgopt=path-exclude={p}" for p in _DPKG_EXCLUDES],
            *[f"--customize-hook={h}" for h in hooks],
            SUITE, str(out),
        ]
    if shutil.which("debootstrap"):
        # debootstrap writes a directory; the caller tars it (see _debootstrap_tar).
        return ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(out)]
    raise SandboxError("images", "install mmdebstrap (apt-get install mmdebstrap) to build the base image offline")


def _build_from_rootfs(client: Any, tag: str, recipe: dict[str, Any]) -> None:
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir()))
    log = cache_dir() / "base-build.log"
    try:
        tar = work / "rootfs.tar"
        cmd = rootfs_command(tar)
        if cmd[0] == "debootstrap" and os.geteuid() != 0:
            raise SandboxError("images", "debootstrap needs root; or install mmdebstrap (apt-get install mmdebstrap)")
        if cmd[0] == "debootstrap":
            _debootstrap_tar(cmd, work, tar, log)
        else:
            _run_logged(cmd, log)
        changes = [f"ENV {k}={v}" for k, v in _IMAGE_ENV.items()]
        changes += ["WORKDIR /workspace", 'CMD ["/bin/bash"]']
        changes += [f"LABEL {k}={json.dumps(v)}" for k, v in _labels(recipe).items()]
        repo, _, version = tag.partition(":")
        client.api.import_image_from_file(str(tar), repository=repo, tag=version, changes=changes)
        if not _image_exists(client, tag):
            raise SandboxError("images", f"docker import did not produce {tag}", str(log))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _debootstrap_tar(cmd: list[str], work: Path, tar: Path, log: Path) -> None:
    root = work / "root"
    cmd[-1] = str(root)
    _run_logged(cmd, log)
    _run_logged(["chroot", str(root), "useradd", "--create-home", "--uid", str(SANDBOX_UID),
                 "--shell", "/bin/bash", "sandbox"], log)
    (root / "workspace").mkdir(exist_ok=True)
    os.chown(root / "workspace", SANDBOX_UID, SANDBOX_UID)
    _run_logged(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tar), "."], log)


def _run_logged(cmd: list[str], log: Path) -> None:
    with open(log, "ab") as fh:
        fh.write(("$ " + " ".join(cmd) + "\n").encode())
        fh.flush()
        proc = subprocess.run(cmd, check=False, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SandboxError("images", f"{cmd[0]} failed with exit code {proc.returncode}", str(log))


def _docker_build(client: Any, tag: str, dockerfile: str, files: dict[str, Path],
                  *, labels: dict[str, str], network: bool = False) -> None:
    """Build ``tag`` from a generated Dockerfile; ``files`` are copied into the context."""
    docker = sdk()

    with tempfile.TemporaryDirectory(prefix="ctx-", dir=cache_dir()) as ctx:
        for name, src in files.items():
            dst = Path(ctx) / name
            if src.is_dir():
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
        (Path(ctx) / "Dockerfile").write_text(dockerfile + "\n")
        log = cache_dir() / f"build-{tag.replace('/', '_').replace(':', '_')}.log"
        try:
            _, lines = client.images.build(path=ctx, tag=tag, rm=True, forcerm=True, labels=labels,
                                           network_mode=None if network else "none")
            log.write_text("".join(str(x.get("stream", "")) for x in lines))
        except docker.errors.BuildError as e:
            text = "".join(str(x.get("stream", "") or x.get("error", "")) for x in e.build_log)
            log.write_text(text)
            raise SandboxError("images", f"docker build of {tag} failed: {e.msg}", str(log)) from None
        except docker.errors.APIError as e:
            raise SandboxError("images", f"docker build of {tag} failed: {e.explanation or e}") from None


# ---------------------------------------------------------------- environment images


def image_python(client: Any, image: str) -> str:
    """The ``major.minor`` of an image's python3: its label, or asked from a throwaway container."""
    img = client.images.get(image)
    label = (img.labels or {}).get("patchloop.python")
    if label:
        return label
    out = client.containers.run(image, ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                remove=True, network_mode="none", labels=owner_labels())  # gc reaps it if we die
    return out.decode().strip()


def ensure_wheelhouse(requirements: Sequence[str], *, minor: str = PYTHON_VERSION) -> Path:
    """Build (once) a directory of wheels for ``requirements`` with the host's ``pip wheel``.

    The result holds the wheels and a ``requirements.txt``; it is written to a temp dir and
    renamed into place, so a killed build leaves nothing that looks finished.
    """
    reqs = sorted(set(requirements))
    key = _hash({"requirements": reqs, "python": minor, "platform": sys.platform, "machine": os.uname().machine})
    dest = cache_dir() / "wheelhouse" / key
    if (dest / "requirements.txt").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(f"wheelhouse-{key}"):
        if (dest / "requirements.txt").exists():
            return dest
        python = host_pip_python(minor)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=dest.parent))
        try:
            (tmp / "requirements.txt").write_text("".join(r + "\n" for r in reqs))
            if reqs:
                log = dest.parent / f"{key}.log"
                _run_logged([python, "-m", "pip", "wheel", "--disable-pip-version-check", "-q",
                             "--wheel-dir", str(tmp), "-r", str(tmp / "requirements.txt")], log)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def env_tag(base_id: str, requirements: Sequence[str], setup: Sequence[str]) -> str:
    """``patchloop/env:<hash>`` of the base image id, the requirements and the setup commands."""
    return f"{ENV_REPO}:{_hash({'recipe': RECIPE_VERSION, 'base': base_id, 'requirements': sorted(set(requirements)), 'setup': list(setup)})}"


def ensure_env_image(
    requirements: Sequence[str],
    *,
    base: str | None = None,
    setup: Sequence[str] = (),
    client: Any = None,
    rebuild: bool = False,
) -> str:
    """Return the tag of an image with ``requirements`` installed in ``/opt/venv`` (on PATH).

    ``setup`` commands run as root after the install, in order, with no network (the build
    is hermetic: everything it needs must be in the wheelhouse or the base). Built once per
    (base image id, requirements, setup); later calls return the existing tag.
    """
    client = _client(client)
    base = base or ensure_base_image(client)
    base_id = client.images.get(base).id
    tag = env_tag(base_id, requirements, setup)
    if not rebuild and _image_exists(client, tag):
        return tag
    minor = image_python(client, base)
    wheels = ensure_wheelhouse(requirements, minor=minor)
    with _build_lock(f"env-{tag.partition(':')[2]}"):
        if not rebuild and _image_exists(client, tag):
            return tag
        dockerfile = "\n".join([
            f"FROM {base}",
            "USER root",
            "COPY wheels /wheels",
            ("RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-index --find-links /wheels "
             "--no-cache-dir -q -r /wheels/requirements.txt"),
            *[f"RUN {cmd}" for cmd in setup],
            f"ENV PATH={_IMAGE_ENV['PATH']}",
            "WORKDIR /workspace",
        ])
        labels = {LABEL: json.dumps({"base": base_id, "requirements": sorted(set(requirements)),
                                     "setup": list(setup)}, sort_keys=True),
                  "patchloop.python": minor}
        _docker_build(client, tag, dockerfile, {"wheels": wheels}, labels=labels)
    return tag
