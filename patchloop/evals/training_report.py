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


def _smooth(ys: list[float], k: int = 5) -> list[float]:
    return [sum(ys[max(0, i - k + 1):i + 1]) / len(ys[max(0, i - k + 1):i + 1]) for i in range(len(ys))]


def plot_training(recs: list[dict], png: Path, title: str, keys: list[tuple[str, str]]) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    drawn = False
    for key, label in keys:
        pts = [(r["step"], r[key]) for r in recs if isinstance(r.get(key), (int, float))]
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, ys, alpha=0.3)
        ax.plot(xs, _smooth(list(ys)), label=label)
        drawn = True
    ax.set_xlabel("step")
    ax.set_title(title)
    if drawn:
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return drawn


def plot_passk(evals: dict[str, dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = sorted({lv for e in evals.values() for lv in e.get("per_level", {})}, key=int)
    groups = ["all", *levels]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.8 / max(1, len(evals))
    for j, (name, e) in enumerate(evals.items()):
        vals = [100 * e["pass@1"]] + [100 * e.get("per_level", {}).get(lv, 0.0) for lv in levels]
        ax.bar([i + j * width for i in range(len(groups))], vals, width, label=name)
    ax.set_xticks([i + width * (len(evals) - 1) / 2 for i in range(len(groups))])
    ax.set_xticklabels(["all"] + [f"level {lv}" for lv in levels])
    ax.set_ylabel("held-out pass@1 (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def write_report(out: str | Path, evals: dict[str, dict], *, sft_metrics: Path, grpo_metrics: Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    grpo = read_metrics(grpo_metrics)
    sft = read_metrics(sft_metrics)
    imgs = []
    if plot_training(grpo, out / "reward.png", "GRPO reward (mean, std)", [("reward", "reward mean"),
                                                                         ("reward_std", "reward std")]):
        imgs.append(("GRPO reward", "reward.png"))
    if plot_training(grpo, out / "pass_rate.png", "GRPO pass rate of sampled completions",
                     [("pass_rate", "pass rate"), ("frac_reward_zero_std", "groups with no reward spread")]):
        imgs.append(("Pass rate during training", "pass_rate.png"))
    if plot_training(sft, out / "sft_loss.png", "SFT loss", [("loss", "loss")]):
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
        + "".join(f"<h2>{html.escape(t)}</h2><img src='{inline_png(out / f)}'>" for t, f in imgs))
    path = out / "report.html"
    path.write_text(body, encoding="utf-8")
    return path
