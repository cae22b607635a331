"""The real-model demo's HTML report: HumanEval before/after, per problem, and the RFT curves.

Built only from files the stages wrote, so it can be remade from a finished run directory.
"""

from __future__ import annotations

import html
from pathlib import Path

from patchloop.evals.training_report import inline_png, plot_training, read_metrics


def plot_before_after(figures: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, vals = zip(*figures["pass@1"].items())
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    bars = ax.bar(names, [100 * v for v in vals], color=["#888888", "#3b7dd8"][: len(vals)])
    for b, v in zip(bars, vals):
        ax.text(b.get_x() + b.get_width() / 2, 100 * v + 1, f"{100 * v:.1f}%", ha="center")
    ax.set_ylabel(f"HumanEval pass@1, {len(figures['problems'])} problems (%)")
    ax.set_ylim(0, 100)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def problem_rows(before: dict[str, bool], after: dict[str, bool]) -> str:
    """One table row per problem; the ones that changed first."""
    def mark(ok: bool | None) -> str:
        return "—" if ok is None else ("PASS" if ok else "fail")

    order = sorted(before, key=lambda t: (before.get(t) == after.get(t), int(t.split("/")[-1])))
    return "".join(
        f"<tr><td>{html.escape(t)}</td><td>{mark(before.get(t))}</td><td>{mark(after.get(t))}</td>"
        f"<td>{'gained' if after.get(t) and not before.get(t) else 'lost' if before.get(t) and not after.get(t) else ''}</td></tr>"
        for t in order)


def write_real_report(out: str | Path, figures: dict, before: dict[str, bool], after: dict[str, bool],
                      rft_metrics: Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_before_after(figures, out / "before_after.png")
    imgs = [("HumanEval pass@1 before and after", "before_after.png")]
    sft = read_metrics(rft_metrics)
    if plot_training(sft, out / "rft_loss.png", "RFT: SFT loss on the kept samples", [("loss", "loss")]):
        imgs.append(("RFT training loss", "rft_loss.png"))
    gained = sum(1 for t in before if after.get(t) and not before[t])
    lost = sum(1 for t in before if before[t] and not after.get(t))
    y = figures.get("rft_yield", {})
    stage = ", ".join(f"{k} {v:.0f} s" for k, v in figures.get("stage_s", {}).items())
    body = (
        "<!doctype html><meta charset='utf-8'><title>patchloop demo</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}td,th{padding:3px 10px}</style>"
        f"<h1>patchloop demo: the real loop on {html.escape(figures['model'])}</h1>"
        "<p>Real model (not the tiny smoke model). Greedy, chat prompt, whole function in one code block; "
        f"the same {len(before)} HumanEval problems before and after. Trained by rejection-sampling "
        f"fine-tuning (LoRA) on verified procedural tasks: {y.get('samples', '?')} samples, "
        f"{y.get('passed', '?')} passed, {y.get('kept', '?')} kept from {y.get('prompts', '?')} prompts.</p>"
        f"<p>Problems gained: {gained}; lost: {lost}. Stage times: {html.escape(stage)}.</p>"
        + "".join(f"<h2>{html.escape(t)}</h2><img src='{inline_png(out / f)}'>" for t, f in imgs)
        + "<h2>Per problem</h2><table border=1 cellspacing=0><tr><th>problem</th><th>before</th>"
        f"<th>after</th><th></th></tr>{problem_rows(before, after)}</table>")
    path = out / "report.html"
    path.write_text(body, encoding="utf-8")
    return path
