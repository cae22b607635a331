"""The shared records every package speaks, and their JSON-lines I/O.

Plain dataclasses with ``to_dict``/``from_dict``. This module imports no other patchloop
package, so any package may import it. Field names follow the formats the field already
uses (SWE-bench instances and predictions, HumanEval/MBPP problems) so official files
load unchanged; fields a record does not know are kept in ``extra`` rather than dropped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="Record")


class RecordError(ValueError):
    """A record that cannot be read. ``str()`` is one line: ``FILE:LINE: what is wrong``."""

    def __init__(self, where: str, msg: str):
        super().__init__(f"{where}: {msg}")
        self.where = where
        self.msg = msg


def _as_list(value: Any, name: str) -> list[str]:
    """SWE-bench stores test lists as JSON strings; accept both that and real lists."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"field {name!r} is a string but not a JSON list ({e.msg})") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field {name!r} must be a list of strings")
    return list(value)


@dataclass
class Record:
    """Base: dict round trip that rejects missing required fields and keeps unknown ones."""

    list_fields: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                out.update(value)
            elif dataclasses.is_dataclass(value):
                out[f.name] = value.to_dict()
            elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
                out[f.name] = [v.to_dict() for v in value]
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        names = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        extra = {}
        for key, value in data.items():
            if key in names and key != "extra":
                kwargs[key] = value
            elif key == "extra" and isinstance(value, dict):
                extra.update(value)
            else:
                extra[key] = value
        missing = [
            n for n, f in names.items()
            if n not in kwargs and n != "extra"
            and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        for n in cls.list_fields:
            if n in kwargs:
                kwargs[n] = _as_list(kwargs[n], n)
        kwargs = cls._convert(kwargs)
        if "extra" in names:
            kwargs["extra"] = extra
        return cls(**kwargs)

    @classmethod
    def _convert(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Hook for nested records; the default converts nothing."""
        return kwargs


@dataclass
class ExecResult(Record):
    """What one command in a sandbox did. Output is capped: see ``truncated``."""

    cmd: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    timed_out: bool = False
    oom_killed: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed

    @property
    def output(self) -> str:
        """stdout then stderr, for showing to a model or a user."""
        if self.stdout and self.stderr:
            return self.stdout.rstrip("\n") + "\n" + self.stderr
        return self.stdout or self.stderr


@dataclass
class Task(Record):
    """A SWE-bench-style repository task. Unknown fields (repo location, test command,
    hints, created_at...) stay in ``extra`` and are written back unchanged."""

    list_fields: ClassVar[tuple[str, ...]] = ("FAIL_TO_PASS", "PASS_TO_PASS")

    instance_id: str
    repo: str = ""
    base_commit: str = ""
    problem_statement: str = ""
    patch: str = ""
    test_patch: str = ""
    FAIL_TO_PASS: list[str] = field(default_factory=list)
    PASS_TO_PASS: list[str] = field(default_factory=list)
    version: str = ""
    environment_setup_commit: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FunctionTask(Record):
    """A HumanEval/MBPP-style function task. ``test`` is code defining ``check(candidate)``
    or a block of asserts; ``extra`` keeps provenance (family, parameters, seed, level)."""

    task_id: str
    prompt: str
    entry_point: str = ""
    test: str = ""
    canonical_solution: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestReport(Record):
    """Per-test outcome of one test run. ``status`` maps a test id (a pytest node id,
    parameters included) to PASSED, FAILED, ERROR or SKIPPED."""

    __test__ = False  # not a pytest test class, despite the name

    status: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    timed_out: bool = False
    log: str = ""

    def passed(self, test_id: str) -> bool:
        return self.status.get(test_id) == "PASSED"


@dataclass
class Prediction(Record):
    """A model's patch for one instance, in SWE-bench's predictions format."""

    instance_id: str
    model_patch: str = ""
    model_name_or_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Step(Record):
    """One agent step: the model's message and tool calls, what the tools returned,
    timings and token counts, and where the backend gives them the token ids: the exact
    prompt the model saw (after context fitting), the sampled ids and their logprobs.
    ``continued`` says the prompt is the previous step's prompt and sampled ids plus new ids;
    ``prompt_messages`` holds the shortened conversation sent when ``context_cut``."""

    index: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    model_s: float = 0.0
    tools_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    prompt_token_ids: list[int] | None = None
    prompt_messages: list[dict[str, Any]] | None = None
    context_cut: bool = False
    continued: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trajectory(Record):
    """A whole episode: the task, every step, the final patch and why it ended."""

    instance_id: str
    model_name_or_path: str = ""
    steps: list[Step] = field(default_factory=list)
    model_patch: str = ""
    exit_reason: str = ""
    wall_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _convert(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        steps = kwargs.get("steps") or []
        if not isinstance(steps, list):
            raise ValueError("field 'steps' must be a list")
        kwargs["steps"] = [s if isinstance(s, Step) else Step.from_dict(s) for s in steps]
        return kwargs


# ---------------------------------------------------------------- JSON-lines I/O


def iter_jsonl(
    path: str | Path,
    cls: type[T] | None = None,
    *,
    skip_bad: bool = False,
    on_error: Callable[[RecordError], None] | None = None,
) -> Iterator[Any]:
    """Yield records (or dicts when ``cls`` is None) from a JSONL file.

    A bad line raises ``RecordError("FILE:LINE: cause")``; with ``skip_bad`` it is passed
    to ``on_error`` (if given) and reading goes on with the next line.
    """
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                yield cls.from_dict(data) if cls is not None else _require_object(data)
            except (json.JSONDecodeError, ValueError, TypeError) as e:
                msg = f"invalid JSON ({e.msg})" if isinstance(e, json.JSONDecodeError) else str(e)
                err = RecordError(f"{path}:{lineno}", msg)
                if not skip_bad:
                    raise err from None
                if on_error is not None:
                    on_error(err)


def _require_object(data: Any) -> dict:
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def read_jsonl(path: str | Path, cls: type[T] | None = None, **kw: Any) -> list[Any]:
    """All records of a JSONL file; see ``iter_jsonl`` for errors."""
    return list(iter_jsonl(path, cls, **kw))


def _dumps(rec: Record | dict) -> str:
    data = rec.to_dict() if isinstance(rec, Record) else rec
    return json.dumps(data, ensure_ascii=False, default=str)


def write_jsonl(path: str | Path, records: Iterable[Record | dict]) -> None:
    """Write a whole file atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(_dumps(rec) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def end_torn_line(path: str | Path) -> None:
    """A run killed mid-write leaves a torn last line: end it, so the next record appended
    does not glue onto it (the torn line is then reported and skipped like any bad line)."""
    with open(path, "rb+") as fh:
        fh.seek(0, 2)
        if fh.tell() and (fh.seek(-1, 2), fh.read(1))[1] != b"\n":
            fh.write(b"\n")


def drop_torn_line(path: str | Path) -> None:
    """Cut a torn last line off a file this project writes itself (a run killed mid-write):
    the record it held is made again on resume, and no reader sees half a record."""
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def append_jsonl(path: str | Path, record: Record | dict) -> None:
    """Append one record as one write of one line, flushed to disk, so a killed run
    leaves only whole lines behind (a torn last line is reported, then skipped)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (_dumps(record) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: str | Path, data: Any) -> None:
    """Write one JSON document atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a data file, read in blocks: what ties a fingerprint or a marker to the
    exact bytes of the file it names."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
