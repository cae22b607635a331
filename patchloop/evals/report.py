"""Run reports: ``report.json`` (SWE-bench-like counts and id lists, and per instance its
verdict and FAIL_TO_PASS / PASS_TO_PASS counts), ``report.md``, and the HTML page comparing
runs (built by :mod:`patchloop.evals.run_page`).

Every submitted instance stays in the denominator, infrastructure errors included: a
harness that drops its failures reports a rate nobody can reproduce. ``completed_ids`` are
those whose tests ran to a verdict (resolved or unresolved), as in SWE-bench.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from patchloop.evals import grading
from patchloop.evals.junit import PASSED
from patchloop.evals.swe import HARNESS_VERSION
from patchloop.types import write_json


def build_report(tasks, predictions, results: dict, *, run_id: str, settings: dict | None = None) -> dict:
    """``results`` maps instance id -> InstanceResult for this run's current keys; ``settings``
    (backend, timeout, workers) are recorded as given, for the page that compares runs."""
    ids = {v: [] for v in grading.VERDICTS}
    for task in tasks:
        res = results.get(task.instance_id)
        if res is not None:
            ids[res.verdict].append(task.instance_id)
    submitted = [t.instance_id for t in tasks if t.instance_id in predictions]
    missing = [i for i in submitted if i not in results]
    n = len(submitted)
    report = {
        "run_id": run_id,
        "harness_version": HARNESS_VERSION,
        "total_instances": len(tasks),
        "submitted_instances": n,
        "completed_instances": len(ids[grading.RESOLVED]) + len(ids[grading.UNRESOLVED]),
        **{f"{v}_instances": len(ids[v]) for v in grading.VERDICTS},
        "resolved_rate": round(len(ids[grading.RESOLVED]) / n, 4) if n else 0.0,
        "build_s": round(sum(r.build_s for r in results.values()), 2),
        "test_s": round(sum(r.test_s for r in results.values()), 2),
        "submitted_ids": submitted,
        "completed_ids": sorted(ids[grading.RESOLVED] + ids[grading.UNRESOLVED]),
        **{f"{v}_ids": sorted(ids[v]) for v in grading.VERDICTS},
        "incomplete_ids": missing,
        "reasons": {r.instance_id: r.reason for r in results.values() if r.reason},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": dict(settings or {}),
        "models": sorted({r.model_name_or_path for r in results.values() if r.model_name_or_path}),
        "backends": sorted({r.backend for r in results.values() if r.backend}),
        "instances": {t.instance_id: _instance(t, results[t.instance_id])
                      for t in tasks if t.instance_id in results},
    }
    return report


def _passed(test_ids: list[str], statuses: dict[str, str]) -> list:
    """[passed, listed]; passed is None when the tests never ran (no statuses at all)."""
    return [sum(statuses.get(t) == PASSED for t in test_ids) if statuses else None, len(test_ids)]


def _instance(task, res) -> dict:
    """What the page's matrix shows for one instance: verdict, test counts, log file name."""
    return {"verdict": res.verdict, "reason": res.reason,
            "fail_to_pass": _passed(task.FAIL_TO_PASS, res.tests),
            "pass_to_pass": _passed(task.PASS_TO_PASS, res.tests),
            "log": Path(res.log_path).name if res.log_path else "",
            "total_s": res.total_s}


def markdown(report: dict) -> str:
    lines = [f"# Evaluation run `{report['run_id']}`", "",
             (f"Resolved **{report['resolved_instances']} / {report['submitted_instances']}** "
              f"({100 * report['resolved_rate']:.1f}%) of {report['total_instances']} instances."), "",
             "| verdict | count |", "|---|---|"]
    lines += [f"| {v} | {report[f'{v}_instances']} |" for v in grading.VERDICTS]
    lines += ["", f"Time: image build {report['build_s']:.1f} s, test runs {report['test_s']:.1f} s.", ""]
    if report.get("instances"):
        lines += ["## Per instance", "", "FAIL_TO_PASS and PASS_TO_PASS: tests passed / listed (— when none ran).", "",
                  "| instance | verdict | FAIL_TO_PASS | PASS_TO_PASS |", "|---|---|---|---|"]
        lines += [f"| `{_md(iid)}` | {_md(i['verdict'])} | {_ratio(i['fail_to_pass'])} | {_ratio(i['pass_to_pass'])} |"
                  for iid, i in report["instances"].items()]
        lines.append("")
    if report["reasons"]:
        lines += ["## Why not resolved", ""]
        lines += [f"- `{_md(iid)}`: {_md(reason.splitlines()[0][:200]) if reason else ''}"
                  for iid, reason in sorted(report["reasons"].items())]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text for a Markdown table cell or code span: no pipes, backticks or line breaks."""
    return str(text).replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _ratio(pair: list) -> str:
    passed, listed = pair
    return f"{'—' if passed is None else passed}/{listed}"


def write_reports(run_dir: Path, report: dict) -> None:
    """``report.json`` and ``report.md``. A resumed run that changed nothing keeps its date:
    the date says when these results were reached, not when they were last read back."""
    try:
        old = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    if isinstance(old, dict) and old.get("created_at") and _same(old, report):
        report["created_at"] = old["created_at"]
    write_json(run_dir / "report.json", report)
    (run_dir / "report.md").write_text(markdown(report), encoding="utf-8")


def _same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "created_at"} == {k: v for k, v in b.items() if k != "created_at"}


# ------------------------------------------------------------------ HTML comparison


def write_html(run_dirs: list[Path], out: Path) -> Path:
    """One self-contained page comparing ``run_dirs`` (see :mod:`patchloop.evals.run_page`)."""
    from patchloop.evals.run_page import write_page

    return write_page(run_dirs, out)
