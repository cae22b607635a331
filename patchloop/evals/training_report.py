"""The demo's HTML report: training curves and held-out pass@1, as matplotlib PNGs.

Reads only files the stages wrote (``metrics.jsonl`` of each trainer, ``summary.json`` of each
evaluation), so it can be rebuilt from a finished or half-finished run directory.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path


def inline_png(png: Path) -> str:
    """The picture as a data URI, so report.html is one file that can be mailed or attached."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()


def read_metrics(path: str | Path) -> list[dict]:
    """Per-step records of a trainer's JSONL log (torn or malformed lines are skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "train_runtime" not in rec:
            out.append(rec)
    return out


def plot_training(recs: list[dict], png: Path, title: str, keys: list[tuple[str, str]], ylabel: str = "") -> bool:
    """Curves of ``keys`` over the optimiser step, both axes named; False when nothing to draw."""
    from patchloop.evals.train_page import curve_figure, save_png

    fig = curve_figure(recs, keys, title=title, ylabel=ylabel or " / ".join(label for _, label in keys))
    if fig is not None:
        save_png(fig, png)
    return fig is not None


def plot_passk(evals: dict[str, dict], png: Path) -> None:
    from patchloop.evals.plots import grouped_bars
    from patchloop.evals.train_page import save_png

    levels = sorted({lv for e in evals.values() for lv in e.get("per_level", {})}, key=int)
    series = {name: [100 * e["pass@1"]] + [100 * e.get("per_level", {}).get(lv, 0.0) for lv in levels]
              for name, e in evals.items()}
    save_png(grouped_bars(["all", *[f"level {lv}" for lv in levels]], series, xlabel="held-out tasks",
                          ylabel="pass@1 (%)", title="Held-out pass@1 per model", ymax=100), png)


def write_report(out: str | Path, evals: dict[str, dict], *, sft_metrics: Path, grpo_metrics: Path,
                 per_item: dict[str, Path] | None = None) -> Path:
    """``per_item`` names each evaluation's ``samples.jsonl``, for the per-task before/after table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    grpo = read_metrics(grpo_metrics)
    sft = read_metrics(sft_metrics)
    imgs = []
    if plot_training(grpo, out / "reward.png", "GRPO reward (mean, std)", [("reward", "reward mean"),
                                                                         ("reward_std", "reward std")],
                     ylabel="reward"):
        imgs.append(("GRPO reward", "reward.png"))
    if plot_training(grpo, out / "pass_rate.png", "GRPO pass rate of sampled completions",
                     [("pass_rate", "pass rate"), ("frac_reward_zero_std", "groups with no reward spread")],
                     ylabel="fraction (0 to 1)"):
        imgs.append(("Pass rate during training", "pass_rate.png"))
    if plot_training(sft, out / "sft_loss.png", "SFT loss", [("loss", "loss")], ylabel="training loss (cross-entropy)"):
        imgs.append(("SFT loss", "sft_loss.png"))
    plot_passk(evals, out / "passk.png")
    imgs.insert(0, ("Held-out pass@1", "passk.png"))
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{100 * e['pass@1']:.1f}%</td><td>{e['n']}</td><td>"
        + ", ".join(f"L{lv}: {100 * p:.0f}% (n={e.get('per_level_n', {}).get(lv, '?')})"
                    for lv, p in e.get("per_level", {}).items()) + "</td></tr>"
        for k, e in evals.items())
    settings = next(iter(evals.values()), {}).get("settings", {})
    body = (
        "<!doctype html><meta charset='utf-8'><title>patchloop demo</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}td,th{padding:4px 10px}</style>"
        "<h1>patchloop demo: learning from execution</h1>"
        "<p><b>Quick run on the tiny model</b> (about 3 M parameters, built and trained here on "
        "arithmetic chains): a smoke run of the loop, not the real model. <code>make demo</code> "
        "without <code>QUICK=1</code> runs it on Qwen2.5-Coder-0.5B-Instruct.</p>"
        "<table border=1 cellspacing=0><tr><th>model</th><th>held-out pass@1</th><th>tasks</th><th>per level</th></tr>"
        f"{rows}</table><p>Sampling: {html.escape(json.dumps({k: settings.get(k) for k in ('temperature', 'max_new_tokens', 'families')}))}"
        f"; GRPO steps logged: {len(grpo)}; SFT steps logged: {len(sft)}.</p>"
        + "".join(f"<h2>{html.escape(t)}</h2><img src='{inline_png(out / f)}'>" for t, f in imgs)
        + _per_item(per_item))
    path = out / "report.html"
    path.write_text(body, encoding="utf-8")
    return path


def _per_item(per_item: dict[str, Path] | None) -> str:
    from patchloop.evals.train_page import TABLE_CSS, before_after_table, gained_lost, per_item_passed

    stages = {name: per_item_passed(path) for name, path in (per_item or {}).items()}
    if not any(stages.values()):
        return ""
    gained, lost = gained_lost(stages)
    return (f"{TABLE_CSS}<h2>Per task</h2><p>First to last: {gained} gained, {lost} lost; changed tasks first.</p>"
            + before_after_table(stages))
