"""``patchloop eval report RUN... --out page.html``: one self-contained page comparing runs.

Top to bottom: a card per run (resolved rate, model, date), each run's settings, charts
(resolved rate, verdicts, tests passing), what each run gained and lost against each other,
and the per-instance matrix: verdict, FAIL_TO_PASS and PASS_TO_PASS passed / listed, and
links to the instance's log and patch, relative to the page so page and runs move together.
Rows where the runs disagree are marked. The page holds no scripts; all run text is escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from patchloop.evals import grading, plots
from patchloop.evals.html_page import Raw, anchor, esc, figure, link, page, section, table
from patchloop.evals.run_data import MISSING, UNREADABLE, Cell, Run, instance_ids, load_runs, pairwise

ORDER = (*grading.VERDICTS, MISSING, UNREADABLE)
LEGEND = {
    grading.RESOLVED: "every FAIL_TO_PASS and PASS_TO_PASS test passed",
    grading.UNRESOLVED: "the tests ran and some listed test did not pass",
    grading.PATCH_FAILED: "the patch did not apply", grading.EMPTY_PATCH: "no patch was submitted",
    grading.TIMEOUT: "the tests ran past the time limit", grading.ERROR_VERDICT: "infrastructure failure",
    MISSING: "submitted, but no result recorded", UNREADABLE: "a dataset row that could not be read",
}


def _rate(run: Run) -> tuple[int, int]:
    n = int(run.report.get("submitted_instances") or len(run.cells))
    return len(run.resolved), n


def _badge(verdict: str) -> Raw:
    color = plots.verdict_color(verdict)
    return Raw(f'<span class="badge" style="background:{color}" title="{esc(LEGEND.get(verdict, verdict))}">'
               f"{esc(verdict)}</span>")


def _count(pair: list) -> str:
    passed, listed = (list(pair) + [None, None])[:2]
    if listed is None:
        return "?"
    return f"{'—' if passed is None else passed}/{listed}"


def _of_total(run: Run, n: int) -> str:
    total = run.report.get("total_instances")
    return f" ({total} in the dataset)" if isinstance(total, int) and total != n else ""


def _versus(run: Run, first: Run) -> str:
    """Gained and lost against the first run, over the instances both hold."""
    if run is first:
        return ""
    shared = [i for i in run.cells if i in first.cells]
    gained = sum(run.cells[i].resolved and not first.cells[i].resolved for i in shared)
    lost = sum(first.cells[i].resolved and not run.cells[i].resolved for i in shared)
    return (f'<div class="sub">vs {esc(first.name)}: <span class="gained">+{gained}</span> '
            f'<span class="lost">−{lost}</span></div>')


def _cards(runs: list[Run]) -> Raw:
    out = []
    for run in runs:
        done, n = _rate(run)
        pct = f"{100 * done / n:.1f}%" if n else "—"
        out.append(f'<div class="card"><div class="sub">{esc(run.name)}</div><div class="big">{esc(pct)}</div>'
                   f"<div>{done} of {n} submitted resolved{_of_total(run, n)}</div>"
                   f'<div class="sub">model {esc(", ".join(run.models) or "unknown")} · {esc(run.date)}</div>'
                   f"{_versus(run, runs[0])}</div>")
    return Raw(f'<div class="cards">{"".join(out)}</div>')


def _value(key: str, value) -> str:
    if key == "timeout" and isinstance(value, (int, float)):
        return f"{value:g} s"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _settings(run: Run) -> Raw:
    """The settings that decided the run's outputs, inline: dataset, predictions, harness, ..."""
    rep, s = run.report, dict(run.report.get("settings") or {})
    if rep.get("backends"):
        s["backend"] = f"{s.get('backend', '?')} → {', '.join(rep['backends'])}"
    items = {"dataset": run.meta.get("dataset"), "predictions": run.meta.get("predictions"),
             "harness": rep.get("harness_version"), **s,
             **{k: v for k, v in run.meta.items() if k not in ("dataset", "predictions", "models", *s)}}
    parts = [f'<span class="kv"><span class="k">{esc(k)}</span> {esc(_value(k, v))}</span>'
             for k, v in items.items() if v not in (None, "", False, [])]
    return Raw(" ".join(parts) or '<span class="muted">not recorded</span>')


def _verdicts(run: Run) -> Raw:
    """Every verdict the run has, resolved first, as badges with counts."""
    counts = run.verdict_counts()
    done, n = _rate(run)
    parts = [f'<span class="kv">{_badge(v)} {counts[v]}</span>'
             for v in [*ORDER, *sorted(set(counts) - set(ORDER))] if counts.get(v)]
    return Raw(f"<b>{done}/{n}</b> resolved<br>" + " ".join(parts))


def _runs_table(runs: list[Run], base: Path) -> Raw:
    rows = [[Raw(f"<b>{esc(run.name)}</b>"), ", ".join(run.models) or "unknown", run.date,
             Raw(f"{_settings(run)} <span class='kv'>{link(run.path / 'report.json', 'report.json', base)}</span>"),
             _verdicts(run),
             f"{run.report.get('build_s', 0):.1f} s / {run.report.get('test_s', 0):.1f} s"] for run in runs]
    # scrolls sideways inside its own box on a narrow screen; the matrix keeps its sticky header
    return Raw('<div class="scroll">' + table(["run", "model", "reported", "settings", "verdicts",
                                                "image build / tests"], rows, cls="runs") + "</div>")


def _tests_share(run: Run) -> float | None:
    known = [c.fail_to_pass for c in run.cells.values() if c.fail_to_pass[1]]
    if not any(p is not None for p, _ in known):  # no test ran (empty patches, errors, old report)
        return None
    return 100 * sum(p or 0 for p, _ in known) / sum(n for _, n in known)


def _charts(runs: list[Run]) -> Raw:
    names = [r.name for r in runs]
    rates = [_rate(r) for r in runs]
    figs = [("Resolved rate per run", plots.hbars(
        names, [100 * d / n if n else 0 for d, n in rates], xmax=100, xlabel="resolved (% of submitted)",
        ylabel="run", title="Resolved rate per run", labels=[f"{100 * d / n:.1f}% ({d}/{n})" if n else "—"
                                                          for d, n in rates]),
        "Share of submitted instances whose every listed test passed.")]
    counts = [r.verdict_counts() for r in runs]
    seen = {v for c in counts for v in c}
    series = {v: [c.get(v, 0) for c in counts] for v in [*ORDER, *sorted(seen - set(ORDER))] if v in seen}
    figs.append(("Verdicts per run", plots.stacked_hbars(
        names, series, xlabel="instances", ylabel="run", title="Verdicts per run",
        colors={v: plots.verdict_color(v) for v in series}),
        "How each submitted instance ended; error and missing are infrastructure, still counted."))
    shares = [_tests_share(r) for r in runs]
    if any(s is not None for s in shares):
        figs.append(("FAIL_TO_PASS tests passing", plots.hbars(
            names, [s or 0 for s in shares], xmax=100, xlabel="FAIL_TO_PASS tests passing (% of listed)",
            ylabel="run", title="FAIL_TO_PASS tests passing", color=plots.SERIES[5],
            labels=["no test ran" if s is None else f"{s:.1f}%" for s in shares]),
            "Partial credit the resolved rate hides: listed tests the patch made pass, over all instances."))
    return Raw('<div class="figs">' + "".join(figure(t, plots.data_uri(f), cap) for t, f, cap in figs) + "</div>")


def _id_links(ids: list[str], rows: dict[str, str], cls: str) -> Raw:
    if not ids:
        return Raw('<span class="muted">none</span>')
    shown = ", ".join(f'<a class="{cls}" href="#{esc(rows[i])}">{esc(i)}</a>' for i in ids[:40])
    more = f" and {len(ids) - 40} more" if len(ids) > 40 else ""
    return Raw(f"<b class='{cls}'>{len(ids)}</b>: <span class='id'>{shown}</span>{more}")


def _diffs(runs: list[Run], rows: dict[str, str]) -> Raw:
    if len(runs) < 2:
        return section("Differences between runs", "", sid="diffs",
                       note="One run: nothing to compare. Name several run directories to see what each gained and lost.")
    body = [[Raw(f"{esc(d.a)} → {esc(d.b)}"), _id_links(d.gained, rows, "gained"), _id_links(d.lost, rows, "lost"),
             d.both, d.neither, f"{len(d.only_a)} / {len(d.only_b)}"] for d in pairwise(runs)]
    return section("Differences between runs", Raw('<div class="scroll">') + table(
        ["from → to", "gained (resolved only in the second)", "lost (resolved only in the first)",
         "resolved in both", "in neither", "only in first / second"], body, cls="diffs") + "</div>", sid="diffs",
        note="Over the instances both runs evaluated; each id links to its row below.")


def _cell(cell: Cell | None, base: Path) -> Raw:
    if cell is None:
        return Raw('<span class="muted">not submitted in this run</span>')
    why = cell.reason.strip().splitlines()[0][:160] if cell.reason.strip() and not cell.resolved else ""
    return Raw(f'<div class="cell">{_badge(cell.verdict)} <span class="counts">F2P {esc(_count(cell.fail_to_pass))}'
               f" · P2P {esc(_count(cell.pass_to_pass))}</span>"
               f'<div class="links">{link(cell.log, "log", base, "no log")}{link(cell.patch, "patch", base, "no patch")}'
               "</div>"
               + (f'<div class="why" title="{esc(cell.reason)}">{esc(why)}</div>' if why else "") + "</div>")


def _matrix(runs: list[Run], ids: list[str], rows: dict[str, str], base: Path) -> Raw:
    body, cls = [], []
    for iid in ids:
        cells = [run.cells.get(iid) for run in runs]
        held = [c for c in cells if c]  # of the runs that evaluated it
        won = f"{sum(c.resolved for c in held)}/{len(held)}"
        body.append([Raw(f'<span class="id" id="{esc(rows[iid])}">{esc(iid)}</span>'), won,
                     *[_cell(c, base) for c in cells]])
        cls.append("differs" if len({c.resolved for c in held}) > 1 else "")
    seen = {run.cells[i].verdict for run in runs for i in ids if i in run.cells}
    legend = " ".join(f'<span class="legend">{_badge(v)} {esc(LEGEND.get(v, v))}</span>'
                      for v in [*ORDER, *sorted(seen - set(ORDER))] if v in seen)
    note = ("F2P / P2P: FAIL_TO_PASS and PASS_TO_PASS tests passed / listed (— when the tests did not run, "
            "? when the run predates these counts). Resolved in: runs that resolved it / runs that evaluated it."
            + (f" The {cls.count('differs')} marked rows are those where the runs that have the instance disagree."
               if len(runs) > 1 else ""))
    return section(f"Per-instance results ({len(ids)} instances)",
                   f'<p class="note">{legend}</p>' + table(["instance", "resolved in", *[r.name for r in runs]], body,
                                                             cls="matrix", row_cls=cls), sid="matrix", note=note)


def render(run_dirs: list[str | Path], out: Path) -> str:
    runs = load_runs(run_dirs)
    ids = instance_ids(runs)
    rows = {iid: anchor(iid, n) for n, iid in enumerate(ids)}
    base = Path(out).resolve().parent
    title = "patchloop evaluation: " + " vs ".join(r.name for r in runs[:4]) + (" …" if len(runs) > 4 else "")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sub = f"{len(runs)} run{'s' * (len(runs) != 1)} · {len(ids)} instances · page written {now}"
    return page(title, sub, [
        section("Runs", _cards(runs) + '<div style="height:12px"></div>' + _runs_table(runs, base), sid="runs"),
        section("Charts", _charts(runs), sid="charts"),
        _diffs(runs, rows),
        _matrix(runs, ids, rows, base),
    ])


def write_page(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Render ``run_dirs`` into ``out`` (written whole; its folder is made)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render(run_dirs, out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
