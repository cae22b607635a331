"""The ``Sandbox`` protocol, its limits, its errors, and output capping.

Every line of untrusted code (model output, generated tasks, third-party repositories)
runs through an object that satisfies ``Sandbox``. Backends: ``DockerSandbox`` (strong
isolation, the default where an engine answers) and ``LocalSandbox`` (a temp dir and
rlimits; weaker, for machines without an engine). Both have the same semantics.
"""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

from pydantic import BaseModel, Field

from patchloop.sandbox.runner.output import OutputCap  # the runner's own (stdlib only)
from patchloop.types import ExecResult


class SandboxError(RuntimeError):
    """An infrastructure failure (engine gone, container died, image missing): loud and typed.

    Not for a model's mistakes: a failing command or a patch that does not apply is an
    ``ExecResult`` that goes back to the model as text.
    """

    def __init__(self, task_id: str, msg: str, log_path: str | None = None):
        where = f" (log: {log_path})" if log_path else ""
        super().__init__(f"{task_id}: {msg}{where}")
        self.task_id = task_id
        self.msg = msg
        self.log_path = log_path


class SandboxLimits(BaseModel):
    """Resource limits applied to every sandbox (and to every command in it)."""

    timeout_s: float = Field(60.0, description="Default wall-clock limit per command, seconds; the whole process tree is killed past it.")
    memory_bytes: int = Field(2 * 1024**3, description="Memory limit of the sandbox (Docker: cgroup limit with swap equal to it; local: address-space rlimit per command).")
    cpus: float = Field(1.0, description="CPU quota in cores (Docker); local backend uses a CPU-time rlimit derived from the timeout.")
    pids: int = Field(256, description="Maximum processes/threads (Docker pids limit; local RLIMIT_NPROC where it can be applied).")
    output_bytes: int = Field(256 * 1024, description="Cap on each of stdout and stderr per command; head and tail are kept and the cut is marked.")
    tmp_bytes: int = Field(256 * 1024**2, description="Size of the /tmp tmpfs (Docker) ; local backend caps files with RLIMIT_FSIZE.")
    workspace_bytes: int = Field(2 * 1024**3, description="Size of the workspace (Docker: a tmpfs volume of this size; local: not enforced beyond RLIMIT_FSIZE per file).")
    file_bytes: int = Field(512 * 1024**2, description="Largest file a command may write (RLIMIT_FSIZE).")
    open_files: int = Field(1024, description="Maximum open file descriptors per process (RLIMIT_NOFILE).")
    network: bool = Field(False, description="Allow network access. Off by default: untrusted code gets no network.")


def parse_size(text: str | int) -> int:
    """'512m', '2g', '1.5GiB', '1024' -> bytes. Raises ValueError naming the bad text."""
    if isinstance(text, int):
        return text
    s = text.strip().lower().removesuffix("ib").removesuffix("b")
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    try:
        if s and s[-1] in units:
            return int(float(s[:-1]) * units[s[-1]])
        return int(s)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (use e.g. 512m or 2g)") from None


def cap_text(text: str, limit: int) -> tuple[str, bool]:
    """Cap an already-collected string the same way ``OutputCap`` caps a stream."""
    cap = OutputCap(limit)
    cap.feed(text.encode("utf-8", "replace"))
    return cap.text(), cap.truncated


@runtime_checkable
class Sandbox(Protocol):
    """A workspace where untrusted code runs. Paths are relative to ``workdir`` unless absolute
    inside the sandbox. Use as a context manager; ``close()`` is idempotent."""

    workdir: str

    def run(self, cmd: str, *, timeout: float | None = None, env: dict[str, str] | None = None) -> ExecResult:
        """Run ``cmd`` with ``bash -c`` in ``workdir``, in its own process group; kill the tree on timeout."""
        ...

    def write_file(self, path: str, data: str | bytes) -> None: ...

    def read_file(self, path: str) -> str: ...

    def apply_patch(self, diff: str) -> ExecResult:
        """Apply a unified diff; refuses absolute paths, ``..`` and symlink escapes."""
        ...

    def diff(self) -> str:
        """The change against the base commit, new and deleted files included."""
        ...

    def reset(self) -> None:
        """Return the workspace to its base commit, killing leftover processes (for pools)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
