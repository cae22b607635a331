"""Pieces of the training and demo reports: per-item before/after, and training curves.

The pages themselves are assembled where the stages live (the demo); what they show is built
here, next to the evaluation page, so every report reads the same way: axes named, labels
inside their frame, items that changed listed first with what changed.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from patchloop.evals import plots
from patchloop.evals.html_page import Raw, esc, table


def per_item_passed(path: str | Path) -> dict[str, bool]:
    """task id -> passed, from a grader's ``per_task.jsonl`` (``c`` correct samples) or an
    evaluation's ``samples.jsonl`` (``passed``); a missing file or torn line gives nothing."""
    out: dict[str, bool] = {}
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "task_id" in rec:
            ok = rec["c"] > 0 if "c" in rec else bool(rec.get("passed"))
            out[str(rec["task_id"])] = out.get(str(rec["task_id"]), False) or ok
    return out


def _natural(key: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


def change(first: bool | None, last: bool | None) -> str:
    if last and not first:
        return "gained"
    if first and not last:
        return "lost"
    return ""


def before_after_rows(stages: dict[str, dict[str, bool]]) -> list[tuple[str, list[bool | None], str]]:
    """(item, verdict per stage, gained/lost from the first stage to the last), items that
    changed first, then in natural order (HumanEval/2 before HumanEval/10)."""
    names = list(stages)
    items = {i for verdicts in stages.values() for i in verdicts}
    rows = [(i, [stages[s].get(i) for s in names]) for i in items]
    rows = [(i, vs, change(vs[0], vs[-1]) if len(vs) > 1 else "") for i, vs in rows]
    return sorted(rows, key=lambda r: (not r[2], r[2] != "gained", _natural(r[0])))


def before_after_table(stages: dict[str, dict[str, bool]]) -> Raw:
    """The per-item table: PASS / fail / — (not evaluated) per stage, and the change."""
    def mark(ok: bool | None) -> Raw:
        if ok is None:
            return Raw('<span class="muted">—</span>')
        color = plots.COLORS["resolved" if ok else "unresolved"]
        return Raw(f'<span class="badge" style="background:{color}">{"PASS" if ok else "fail"}</span>')

    body = [[Raw(f'<span class="id">{esc(i)}</span>'), *[mark(v) for v in vs],
             Raw(f'<b class="{c}">{c}</b>' if c else "")] for i, vs, c in before_after_rows(stages)]
    return table(["item", *stages, "change"], body, cls="matrix")


# What the per-item table needs on a page that does not use html_page's stylesheet.
TABLE_CSS = ("<style>.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;"
             "font-weight:600}.muted{color:#8c959f}.id{font-family:monospace}.gained{color:#1a7f37}"
             ".lost{color:#cf222e}table.matrix{border-collapse:collapse}table.matrix td,table.matrix th"
             "{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left}</style>")


def gained_lost(stages: dict[str, dict[str, bool]]) -> tuple[int, int]:
    rows = before_after_rows(stages)
    return sum(c == "gained" for *_, c in rows), sum(c == "lost" for *_, c in rows)


def pass_rate_figure(rates: dict[str, float], *, n: int, what: str, title: str):
    """One bar per stage or model: pass@1 in percent, the axis ending at 100."""
    return plots.hbars(list(rates), [100 * v for v in rates.values()], xmax=100, xlabel=f"{what} pass@1 (%)",
                       ylabel="model", title=title,
                       labels=[f"{100 * v:.1f}% ({round(v * n)}/{n})" for v in rates.values()])


def curve_figure(records: list[dict], keys: list[tuple[str, str]], *, title: str, ylabel: str,
                 xlabel: str = "optimiser step"):
    """Training curves of ``keys`` (record key, legend label) over ``step``; None when no
    record has any of them. Noisy curves (over 10 points) are smoothed over 5."""
    series = {}
    for key, label in keys:
        pts = [(r["step"], r[key]) for r in records
               if isinstance(r.get(key), (int, float)) and isinstance(r.get("step"), (int, float))]
        if pts:
            xs, ys = zip(*pts)
            series[label] = (list(xs), list(ys))
    if not series:
        return None
    longest = max(len(xs) for xs, _ in series.values())
    return plots.curves(series, xlabel=xlabel, ylabel=ylabel, title=title, smooth=5 if longest > 10 else 1)


def save_png(fig, path: Path) -> str:
    """Write the figure beside the page and return it as a data URI for the page itself."""
    uri = plots.data_uri(fig)
    path.write_bytes(base64.b64decode(uri.split(",", 1)[1]))
    return uri
