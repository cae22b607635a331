"""Run reports: ``report.json`` (SWE-bench-like counts and id lists), ``report.md``, and an
HTML page with matplotlib charts comparing runs.

Every submitted instance stays in the denominator, infrastructure errors included: a
harness that drops its failures reports a rate nobody can reproduce. ``completed_ids`` are
those whose tests ran to a verdict (resolved or unresolved), as in SWE-bench.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from patchloop.evals import grading
from patchloop.evals.swe import HARNESS_VERSION
from patchloop.types import write_json


def build_report(tasks, predictions, results: dict, *, run_id: str) -> dict:
    """``results`` maps instance id -> InstanceResult for this run's current keys."""
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
    }
    return report


def markdown(report: dict) -> str:
    lines = [f"# Evaluation run `{report['run_id']}`", "",
             (f"Resolved **{report['resolved_instances']} / {report['submitted_instances']}** "
              f"({100 * report['resolved_rate']:.1f}%) of {report['total_instances']} instances."), "",
             "| verdict | count |", "|---|---|"]
    lines += [f"| {v} | {report[f'{v}_instances']} |" for v in grading.VERDICTS]
    lines += ["", f"Time: image build {report['build_s']:.1f} s, test runs {report['test_s']:.1f} s.", ""]
    if report["reasons"]:
        lines += ["## Why not resolved", ""]
        lines += [f"- `{iid}`: {reason.splitlines()[0][:200] if reason else ''}"
                  for iid, reason in sorted(report["reasons"].items())]
    return "\n".join(lines) + "\n"


def write_reports(run_dir: Path, report: dict) -> None:
    write_json(run_dir / "report.json", report)
    (run_dir / "report.md").write_text(markdown(report), encoding="utf-8")


# ------------------------------------------------------------------ HTML comparison


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def charts(reports: list[dict]) -> list[tuple[str, str]]:
    """(title, base64 PNG): resolved rate per run, and the verdict breakdown per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["run_id"] for r in reports]
    out = []
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names) + 2), 3.2))
    rates = [100 * r["resolved_rate"] for r in reports]
    bars = ax.bar(names, rates, color="#3a7d44")
    ax.bar_label(bars, fmt="%.1f%%")
    ax.set_ylim(0, 105)
    ax.set_ylabel("resolved (% of submitted)")
    ax.set_title("Resolved rate per run")
    out.append(("Resolved rate per run", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names) + 2), 3.6))
    colors = ["#3a7d44", "#c0392b", "#e67e22", "#95a5a6", "#8e44ad", "#2c3e50"]
    bottom = [0] * len(reports)
    for verdict, color in zip(grading.VERDICTS, colors):
        vals = [r.get(f"{verdict}_instances", 0) for r in reports]
        ax.bar(names, vals, bottom=bottom, label=verdict, color=color)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("instances")
    ax.set_title("Verdicts per run")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    out.append(("Verdicts per run", _png(fig)))
    plt.close(fig)
    return out


def write_html(run_dirs: list[Path], out: Path) -> Path:
    """One self-contained page (PNG charts embedded as base64) comparing ``run_dirs``."""
    reports = []
    for d in run_dirs:
        path = Path(d) / "report.json"
        if not path.exists():
            raise FileNotFoundError(f"{d}: no report.json (run `patchloop eval swe` first)")
        reports.append(json.loads(path.read_text(encoding="utf-8")))
    rows = "".join(
        f"<tr><td>{html.escape(r['run_id'])}</td><td>{r['resolved_instances']}/{r['submitted_instances']}</td>"
        + "".join(f"<td>{r.get(f'{v}_instances', 0)}</td>" for v in grading.VERDICTS) + "</tr>"
        for r in reports)
    head = "".join(f"<th>{v}</th>" for v in grading.VERDICTS)
    imgs = "".join(f'<h2>{html.escape(t)}</h2><img alt="{html.escape(t)}" src="data:image/png;base64,{b}">'
                   for t, b in charts(reports))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>patchloop eval report</title>"
            f"<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 10px;border:1px solid #ccc}}"
            f"table{{border-collapse:collapse}}</style></head><body><h1>patchloop evaluation</h1>"
            f"<table><tr><th>run</th><th>resolved</th>{head}</tr>{rows}</table>{imgs}</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
