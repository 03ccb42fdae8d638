"""`metric_intervals_figure`: a panel per metric, a line per method, undefined rows left empty."""

from __future__ import annotations

import math

import pytest

from keras_cxr.viz import metric_intervals_figure

ROWS = [
    {"method": "gradcam", "metric": "sparseness", "family": "complexity", "better": "higher",
     "mean": 0.4, "low": 0.3, "high": 0.5},
    {"method": "lime", "metric": "sparseness", "family": "complexity", "better": "higher",
     "mean": 0.6, "low": math.nan, "high": math.nan},
    {"method": "gradcam", "metric": "pointing_game", "mean": math.nan, "low": math.nan,
     "high": math.nan},
    {"method": "lime", "metric": "pointing_game", "mean": 0.5, "low": 0.0, "high": 1.0},
]  # fmt: skip


def test_a_panel_per_metric_with_its_direction_and_the_defined_rows_drawn():
    figure = metric_intervals_figure(ROWS, columns=3)
    visible = [axis for axis in figure.axes if axis.get_visible()]
    assert [axis.get_title() for axis in visible] == [
        "sparseness\n(complexity, higher is better)", "pointing_game",
    ]  # fmt: skip
    sparseness, pointing = visible
    # gradcam: its interval and its dot; lime: a dot only (no interval).
    assert [len(line.get_xdata()) for line in sparseness.lines] == [2, 1, 1]
    assert [line.get_ydata()[0] for line in pointing.lines] == [1, 1]  # lime's line only
    assert [t.get_text() for t in pointing.get_yticklabels()] == ["gradcam", "lime"]


def test_no_rows_is_refused():
    with pytest.raises(ValueError, match="at least one row"):
        metric_intervals_figure([])


def test_the_docstring_example_runs():
    import doctest

    import keras_cxr
    from keras_cxr.viz import metric_intervals

    assert doctest.testmod(metric_intervals, globs={"keras_cxr": keras_cxr}).failed == 0
