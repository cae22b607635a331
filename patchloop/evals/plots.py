"""Charts for the HTML reports (evaluation, training, demo), drawn to read at a glance.

Every chart names both axes, keeps its value labels inside the frame (the axis limit leaves
room for them) and puts its legend below the plot rather than over the data. Figures are
``matplotlib.figure.Figure`` objects, not pyplot state, so pages can be built from threads
and nothing needs a display. :func:`texts_outside_axes` is how tests check the labels.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

# One colour per verdict class, shared by the charts and the page's badges.
COLORS = {
    "resolved": "#2e7d32", "unresolved": "#c62828", "patch_failed": "#ef6c00", "empty_patch": "#9e9e9e",
    "timeout": "#f9a825", "error": "#6a1b9a", "missing": "#455a64",
}
OTHER = "#00838f"  # a verdict without a colour of its own


def verdict_color(verdict: str) -> str:
    return COLORS.get(verdict, OTHER)


SERIES = ["#1565c0", "#2e7d32", "#c62828", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#455a64"]


def data_uri(fig, dpi: int = 110) -> str:
    """The figure as a PNG data URI, so a page is one file that can be mailed or attached."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.15, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _short(name: str, n: int = 28) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def hbars(names: Sequence[str], values: Sequence[float], *, xlabel: str, ylabel: str, title: str,
          labels: Sequence[str] | None = None, xmax: float | None = None, color: str = SERIES[0]):
    """One horizontal bar per name (long run names stay readable), its value written inside
    the end of a long bar and just past a short one, so no label crosses the frame. With
    ``xmax`` (100 for a percentage) the axis ends there."""
    fig, ax = _figure(5.6, 1.3 + 0.42 * len(names))
    ys = list(range(len(names)))[::-1]
    bars = ax.barh(ys, values, color=color, height=0.6)
    ax.set_yticks(ys, [_short(n) for n in names])
    top = xmax if xmax else max([*values, 1e-9]) * 1.1
    ax.set_xlim(0, top)
    texts = list(labels) if labels is not None else [f"{v:g}" for v in values]
    for bar, text in zip(bars, texts):
        inside = bar.get_width() > 0.55 * top
        ax.annotate(text, (bar.get_width(), bar.get_y() + bar.get_height() / 2), xytext=(-5 if inside else 4, 0),
                    textcoords="offset points", va="center", ha="right" if inside else "left", fontsize=9,
                    color="white" if inside else "#1f2328", fontweight="bold" if inside else "normal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def stacked_hbars(names: Sequence[str], series: dict[str, Sequence[float]], *, xlabel: str, ylabel: str,
                  title: str, colors: dict[str, str] | None = None):
    """Horizontal bars split into ``series`` (e.g. verdicts per run); each segment wide enough
    carries its count, the legend sits below the axes."""
    fig, ax = _figure(5.6, 1.7 + 0.42 * len(names))
    ys = list(range(len(names)))[::-1]
    left = [0.0] * len(names)
    total = max([sum(v) for v in zip(*series.values())] or [1]) or 1
    for i, (label, vals) in enumerate(series.items()):
        if not any(vals):
            continue
        color = (colors or {}).get(label, SERIES[i % len(SERIES)])
        bars = ax.barh(ys, vals, left=left, color=color, height=0.6, label=label)
        ax.bar_label(bars, labels=[f"{v:g}" if v >= 0.06 * total else "" for v in vals], label_type="center",
                     color="white", fontsize=9, fontweight="bold")
        left = [a + b for a, b in zip(left, vals)]
    ax.set_yticks(ys, [_short(n) for n in names])
    ax.set_xlim(0, total * 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    shown = sum(1 for vals in series.values() if any(vals))
    rows = -(-shown // 4)  # at most four a row, the rows as even as they can be
    fig.legend(loc="outside lower center", ncol=max(1, -(-shown // rows)), frameon=False, fontsize=9)
    return fig


def grouped_bars(groups: Sequence[str], series: dict[str, Sequence[float]], *, xlabel: str, ylabel: str,
                 title: str, ymax: float | None = None, fmt: str = "{:.0f}"):
    """Vertical bars, one group per x position and one bar per series in it (e.g. pass@1 per
    task level per model); values above their bars, the y limit leaving room for them."""
    fig, ax = _figure(5.6, 3.4)
    width = 0.8 / max(1, len(series))
    top = ymax if ymax else max([v for vals in series.values() for v in vals] + [1e-9])
    for j, (label, vals) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        bars = ax.bar(xs, vals, width * 0.95, label=label, color=SERIES[j % len(SERIES)])
        ax.bar_label(bars, labels=[fmt.format(v) for v in vals], padding=2, fontsize=8)
    ax.set_xticks(range(len(groups)), [_short(g, 16) for g in groups])
    ax.set_ylim(0, top * 1.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    if len(series) > 1:
        fig.legend(loc="outside lower center", ncol=min(4, len(series)), frameon=False, fontsize=9)
    return fig


def curves(series: dict[str, tuple[Sequence[float], Sequence[float]]], *, xlabel: str, ylabel: str,
           title: str, smooth: int = 1):
    """Line per series (x, y); with ``smooth`` > 1 the raw points are drawn faint and a centred
    mean over ``smooth`` points on top (centred, so a trend is not drawn late)."""
    fig, ax = _figure(5.6, 3.4)
    for i, (label, (xs, ys)) in enumerate(series.items()):
        color = SERIES[i % len(SERIES)]
        if smooth > 1 and len(ys) > smooth:
            ax.plot(xs, ys, color=color, alpha=0.25, linewidth=1)
            half = smooth // 2
            ys = [sum(ys[max(0, j - half): j + half + 1]) / len(ys[max(0, j - half): j + half + 1])
                  for j in range(len(ys))]
        ax.plot(xs, ys, color=color, label=label, linewidth=1.8, marker="o" if len(xs) < 12 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    if len(series) > 1:
        fig.legend(loc="outside lower center", ncol=3, frameon=False, fontsize=9)
    return fig


def texts_outside_axes(fig) -> list[str]:
    """Value labels (texts drawn in an axes) whose box crosses that axes' frame."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        frame = ax.get_window_extent(renderer)
        for text in ax.texts:
            if not text.get_text():
                continue
            box = text.get_window_extent(renderer)
            if box.x0 < frame.x0 - 0.5 or box.x1 > frame.x1 + 0.5 or box.y0 < frame.y0 - 0.5 or box.y1 > frame.y1 + 0.5:
                bad.append(text.get_text())
    return bad


def unnamed_axes(fig) -> list[str]:
    """Titles of axes that lack an x or y label."""
    return [ax.get_title(loc="left") or ax.get_title() for ax in fig.axes
            if not ax.get_xlabel() or not ax.get_ylabel()]
