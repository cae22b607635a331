"""The report charts read at a glance: value labels inside the frame, both axes named."""

from __future__ import annotations

import base64

import pytest

from patchloop.evals import plots

NAMES = ["gold", "empty", "qwen2.5-coder-1.5b-instruct-sft-lora-r16-seed3"]


@pytest.mark.parametrize("values", [[100, 0, 62.5], [100, 100, 100], [0, 0, 0], [3.2, 99.9, 50]])
def test_percentage_labels_stay_inside_the_frame(values):
    fig = plots.hbars(NAMES, values, xmax=100, xlabel="resolved (% of submitted)", ylabel="run", title="t",
                      labels=[f"{v:.1f}% (8/8)" for v in values])
    assert plots.texts_outside_axes(fig) == []
    assert fig.axes[0].get_xlim() == (0, 100)  # a percentage axis ends at 100


@pytest.mark.parametrize("values", [[7, 1, 0], [1000, 999, 12]])
def test_count_labels_stay_inside_the_frame(values):
    fig = plots.hbars(NAMES, values, xlabel="instances", ylabel="run", title="t")
    assert plots.texts_outside_axes(fig) == []


def test_stacked_verdicts_label_segments_inside_and_keep_the_legend_off_the_data():
    series = {"resolved": [8, 0, 5], "unresolved": [0, 0, 1], "patch_failed": [0, 0, 1], "empty_patch": [0, 8, 0]}
    fig = plots.stacked_hbars(NAMES, series, xlabel="instances", ylabel="run", title="t", colors=plots.COLORS)
    assert plots.texts_outside_axes(fig) == []
    assert fig.legends and not fig.axes[0].get_legend()  # figure legend, outside the axes
    fig.canvas.draw()
    legend, frame = fig.legends[0].get_window_extent(), fig.axes[0].get_window_extent()
    assert legend.y1 <= frame.y0


def test_every_chart_names_both_axes():
    figs = [plots.hbars(NAMES, [1, 2, 3], xlabel="x", ylabel="y", title="a"),
            plots.stacked_hbars(NAMES, {"a": [1, 2, 3]}, xlabel="x", ylabel="y", title="b"),
            plots.curves({"loss": ([0, 1, 2], [3.0, 2.0, 1.5]), "reward": ([0, 1, 2], [0.1, 0.4, 0.6])},
                         xlabel="step", ylabel="value", title="c")]
    assert [plots.unnamed_axes(f) for f in figs] == [[], [], []]
    assert plots.unnamed_axes(plots.hbars(NAMES, [1, 2, 3], xlabel="", ylabel="y", title="no x")) == ["no x"]


def test_a_chart_is_an_embeddable_png():
    uri = plots.data_uri(plots.hbars(["a"], [1], xlabel="x", ylabel="y", title="t"))
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]).startswith(b"\x89PNG")
