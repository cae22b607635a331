"""The real-model demo's HTML report: HumanEval before/after, per problem, and the RFT curves.

Built only from files the stages wrote, so it can be remade from a finished run directory.
"""

from __future__ import annotations

import html
from pathlib import Path

from patchloop.evals.training_report import inline_png, plot_training, read_metrics


def plot_before_after(figures: dict, png: Path) -> None:
    from patchloop.evals.train_page import pass_rate_figure, save_png

    save_png(pass_rate_figure(figures["pass@1"], n=len(figures["problems"]), what="HumanEval",
                              title=f"HumanEval pass@1, {len(figures['problems'])} problems"), png)


def problem_rows(before: dict[str, bool], after: dict[str, bool]) -> str:
    """The per-problem table, before and after; the ones that changed first."""
    from patchloop.evals.train_page import TABLE_CSS, before_after_table

    return TABLE_CSS + before_after_table({"before": before, "after": after})


def write_real_report(out: str | Path, figures: dict, before: dict[str, bool], after: dict[str, bool],
                      rft_metrics: Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_before_after(figures, out / "before_after.png")
    imgs = [("HumanEval pass@1 before and after", "before_after.png")]
    sft = read_metrics(rft_metrics)
    if plot_training(sft, out / "rft_loss.png", "RFT: SFT loss on the kept samples", [("loss", "loss")],
                     ylabel="training loss (cross-entropy)"):
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
        + f"<h2>Per problem</h2>{problem_rows(before, after)}")
    path = out / "report.html"
    path.write_text(body, encoding="utf-8")
    return path
