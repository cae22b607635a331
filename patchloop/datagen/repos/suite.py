"""Run a repository's whole test suite once, in a sandbox, to learn what passes and what it covers.

The run happens in the task's own environment image (``evals.swe.env_image``: the harness's
wheelhouse path), through ``coverage run -m pytest`` with a JUnit report, so one run gives both
the passing node ids (later PASS_TO_PASS candidates) and the lines those tests execute (only
covered functions are mutated: a bug no test reaches can never be validated).

Node ids are rebuilt from JUnit ``file``/``classname``/``name`` (``junit_family=xunit1``) and
kept only when they map back to the same JUnit key the grader will look up, so every
recorded id is one the harness can grade.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from patchloop.datagen.repos.source import RepoSource
from patchloop.evals.junit import PASSED, junit_key, legacy_junit_key, parse_junit
from patchloop.types import Record, Task

MIN_PASS_RATE = 0.8  # SWE-smith keeps repositories whose suite mostly passes
_OUT = "/tmp/pl-suite"


@dataclass
class SuiteRun(Record):
    """What one full run of a repository's suite showed."""

    slug: str
    statuses: dict[str, str] = field(default_factory=dict)
    covered: dict[str, list[int]] = field(default_factory=dict)
    duration_s: float = 0.0
    exit_code: int | None = None
    timed_out: bool = False
    unmapped: int = 0
    error: str = ""

    @property
    def passing(self) -> list[str]:
        return sorted(t for t, s in self.statuses.items() if s == PASSED)

    @property
    def pass_rate(self) -> float:
        return len(self.passing) / len(self.statuses) if self.statuses else 0.0

    def skip_reason(self, min_rate: float = MIN_PASS_RATE, run_limit: float | None = None) -> str:
        """Why this repository cannot give tasks here ("" when it can). ``run_limit``: the time
        limit of one candidate's test run, which a suite slower than it would always hit."""
        if self.timed_out:
            return f"test suite hangs (no result within {self.duration_s:.0f}s)"
        if run_limit is not None and self.duration_s > run_limit:
            return f"test suite too slow: {self.duration_s:.0f}s, over the {run_limit:.0f}s limit of a candidate's run"
        if self.error:
            return f"tests cannot run here: {self.error}"
        if not self.statuses:
            return f"tests cannot run here: no test collected (pytest exit {self.exit_code})"
        if self.pass_rate < min_rate:
            return (f"tests cannot run here: only {len(self.passing)}/{len(self.statuses)} pass "
                    f"({100 * self.pass_rate:.0f}% < {100 * min_rate:.0f}%)")
        return ""


def env_task(src: RepoSource, base_commit: str | None = None) -> Task:
    """A task naming the source repository, its environment and test command (no tests yet)."""
    return Task(f"{src.slug}.suite", repo=src.slug, base_commit=base_commit or src.base_commit,
                version=src.version, environment_setup_commit=src.base_commit,
                extra={"repo_path": str(src.path), "requirements": list(src.requirements),
                       "test_cmd": src.test_cmd})


def suite_command(test_cmd: str) -> str:
    prefix, _, rest = test_cmd.partition("python -m pytest")
    opts = rest.strip()
    return (f"mkdir -p {_OUT} && {prefix}python -m coverage run --data-file={_OUT}/.coverage -m pytest {opts} -q "
            f"-p no:cacheprovider -o junit_family=xunit1 -o junit_logging=no --junitxml={_OUT}/report.xml; "
            f"code=$?; python -m coverage json -q --data-file={_OUT}/.coverage -o {_OUT}/cov.json; exit $code")


def run_suite(src: RepoSource, *, timeout: float = 900.0, backend: str = "docker") -> SuiteRun:
    """Run the whole suite of ``src`` at its base commit in a fresh sandbox."""
    import tempfile

    from patchloop.evals.repos import checkout_task_repo
    from patchloop.evals.swe import env_image
    from patchloop.sandbox import SandboxLimits, open_sandbox

    task = env_task(src)
    out = SuiteRun(src.slug)
    image, _ = env_image(task)
    limits = SandboxLimits(timeout_s=timeout, memory_bytes=4 * 1024**3)
    with tempfile.TemporaryDirectory(prefix="patchloop-suite-") as tmp:
        repo = checkout_task_repo(task, Path(tmp) / "repo")
        with open_sandbox(backend, repo=repo, image=image, limits=limits, task_id=task.instance_id) as sb:
            t0 = time.monotonic()
            env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTEST_ADDOPTS": "", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
            res = sb.run(suite_command(src.test_cmd), timeout=timeout, env=env)
            out.duration_s, out.exit_code, out.timed_out = round(time.monotonic() - t0, 2), res.exit_code, res.timed_out
            if res.timed_out:
                return out
            try:
                xml = sb.read_file(f"{_OUT}/report.xml")
            except Exception:  # noqa: BLE001 -- no report: pytest could not start (named below)
                out.error = f"no JUnit report (exit {res.exit_code}): {_last_line(res.output)}"
                return out
            out.statuses, out.unmapped = node_statuses(xml)
            try:
                out.covered = covered_lines(json.loads(sb.read_file(f"{_OUT}/cov.json")), sb.workdir)
            except Exception:  # noqa: BLE001 -- coverage is an aid; without it every function is a target
                out.covered = {}
            if not out.statuses:
                out.error = f"no test collected (pytest exit {res.exit_code}): {collection_cause(res.output)}"
    return out


def collection_cause(output: str) -> str:
    """The line of pytest's output that says why nothing was collected: the first exception
    line of a collection error (with the module it came from), else pytest's own ERROR line."""
    lines = [x.strip() for x in output.splitlines() if x.strip()]
    where = next((x.split("ERROR collecting", 1)[1].strip(" _") for x in lines if "ERROR collecting" in x), "")
    exc = next((x[1:].strip() for x in lines if x.startswith("E ") and x[1:].strip()), "")
    if exc:
        return f"{where}: {exc}"[:200] if where else exc[:200]
    return next((x[:200] for x in lines if x.startswith("ERROR")), _last_line(output))


def _last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1][:200] if lines else "no output"


def node_statuses(xml_text: str) -> tuple[dict[str, str], int]:
    """{node id: status} for every test case whose rebuilt id maps back to its JUnit key;
    the count of cases that did not (left out: the grader could not find them)."""
    report = parse_junit(xml_text)  # the grader's own checks on the XML first
    out: dict[str, str] = {}
    unmapped = 0
    for case in ET.fromstring(xml_text.encode()).iter("testcase"):
        file, cls, name = case.get("file", ""), case.get("classname", ""), case.get("name", "")
        module = file.removesuffix(".py").replace("/", ".")
        classes = cls[len(module) + 1:].split(".") if cls.startswith(module + ".") else []
        nid = "::".join([file, *classes, name])
        key = (cls, name)
        if not file.endswith(".py") or key not in (junit_key(nid), legacy_junit_key(nid)):
            unmapped += 1
            continue
        out[nid] = report[key]
    return out, unmapped


def covered_lines(cov: dict, workdir: str) -> dict[str, list[int]]:
    """{repo-relative path: executed lines} from ``coverage json`` output."""
    out = {}
    root = workdir.rstrip("/") + "/"
    for path, data in (cov.get("files") or {}).items():
        rel = path[len(root):] if path.startswith(root) else path
        if not rel.startswith("/"):
            out[rel] = sorted(data.get("executed_lines") or [])
    return out
