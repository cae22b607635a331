"""Per-item before/after and training curves for the training and demo reports."""

from __future__ import annotations

import json

from patchloop.evals import plots
from patchloop.evals.html_page import Raw
from patchloop.evals.train_page import (
    before_after_rows,
    before_after_table,
    curve_figure,
    gained_lost,
    pass_rate_figure,
    per_item_passed,
)


def test_per_item_verdicts_come_from_either_grader_file_and_skip_torn_lines(tmp_path):
    (tmp_path / "per_task.jsonl").write_text('{"task_id": "HumanEval/1", "n": 1, "c": 1}\n'
                                             '{"task_id": "HumanEval/2", "n": 1, "c": 0}\n{"task_id": "Hu')
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"task_id": "f-1", "passed": False}, {"task_id": "f-1", "passed": True}, {"task_id": "f-2", "passed": False})))
    assert per_item_passed(tmp_path / "per_task.jsonl") == {"HumanEval/1": True, "HumanEval/2": False}
    assert per_item_passed(tmp_path / "samples.jsonl") == {"f-1": True, "f-2": False}  # any sample passing
    assert per_item_passed(tmp_path / "missing.jsonl") == {}


def test_changed_items_come_first_gains_before_losses_then_natural_order():
    before = {"HumanEval/10": True, "HumanEval/2": False, "HumanEval/9": True, "HumanEval/100": False}
    after = {"HumanEval/10": False, "HumanEval/2": True, "HumanEval/9": True}
    rows = before_after_rows({"before": before, "after": after})
    assert [(i, c) for i, _, c in rows] == [("HumanEval/2", "gained"), ("HumanEval/10", "lost"),
                                            ("HumanEval/9", ""), ("HumanEval/100", "")]
    assert rows[-1][1] == [False, None]  # not evaluated after: shown as such, not as a failure
    assert gained_lost({"before": before, "after": after}) == (1, 1)


def test_the_table_escapes_item_names():
    html = before_after_table({"a": {"<script>x</script>": True}, "b": {"<script>x</script>": False}})
    assert isinstance(html, Raw) and "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert ">lost<" in html and html.count("<tr>") == 2


def test_curves_name_both_axes_and_are_none_without_data():
    recs = [{"step": i, "loss": 2 - 0.1 * i, "reward": 0.05 * i} for i in range(1, 30)] + [{"step": 30}]
    fig = curve_figure(recs, [("loss", "loss")], title="SFT loss", ylabel="training loss")
    assert plots.unnamed_axes(fig) == [] and fig.axes[0].get_xlabel() == "optimiser step"
    assert curve_figure(recs, [("kl", "kl")], title="t", ylabel="y") is None


def test_a_centred_mean_does_not_draw_a_trend_late():
    xs = list(range(40))
    fig = plots.curves({"s": (xs, [float(x) for x in xs])}, xlabel="x", ylabel="y", title="t", smooth=5)
    smoothed = fig.axes[0].get_lines()[-1].get_ydata()
    assert list(smoothed[2:-2]) == [float(x) for x in xs[2:-2]]


def test_pass_rate_bars_label_inside_the_frame():
    fig = pass_rate_figure({"before": 0.3, "after RFT": 1.0}, n=40, what="HumanEval", title="t")
    assert plots.texts_outside_axes(fig) == [] and plots.unnamed_axes(fig) == []
    assert [t.get_text() for t in fig.axes[0].texts] == ["30.0% (12/40)", "100.0% (40/40)"]


def test_grouped_bars_keep_their_value_labels_in_the_frame():
    fig = plots.grouped_bars(["all", "level 1"], {"a": [100, 100], "b": [0, 55]}, xlabel="tasks",
                             ylabel="pass@1 (%)", title="t", ymax=100)
    assert plots.texts_outside_axes(fig) == [] and plots.unnamed_axes(fig) == []
