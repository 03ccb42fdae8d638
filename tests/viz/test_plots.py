"""`keras_cxr.viz.plots`: every figure drawn, saved as PNG and read back with OpenCV."""

from __future__ import annotations

import doctest
import re

import cv2
import numpy as np
import pytest

import keras_cxr
from keras_cxr.metrics import reliability_curve, roc_curve
from keras_cxr.viz import plots

DPI = 50
# Colours the figures promise, as OpenCV's BGR.
ROC_BLUE = (180, 119, 31)  # #1f77b4: the ROC curve, the model's reliability curve
THRESHOLD_RED = (40, 39, 214)  # #d62728: the operating point, the "wrong" histogram
CORRECT_GREEN = (44, 160, 44)  # #2ca02c
BAR_BLUE = (232, 199, 174)  # #aec7e8: the reliability histogram bars


def _saved(figure, tmp_path, name="figure.png"):
    path = tmp_path / name
    figure.savefig(path, dpi=DPI)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"OpenCV could not read {path}"
    return image


def _expected_size(figure):
    width, height = figure.get_size_inches() * DPI
    return round(height), round(width)


def _pixels_near(image, bgr, tolerance=30):
    return int(np.sum(np.all(np.abs(image.astype(int) - bgr) <= tolerance, axis=-1)))


def _over_white(bgr, alpha=0.6):
    return tuple(round(alpha * c + (1 - alpha) * 255) for c in bgr)


def _assert_drawn(image, figure):
    assert image.shape[:2] == _expected_size(figure)
    # Not blank: dark text and axes, and more than a handful of distinct colours.
    assert np.sum(image.max(axis=-1) < 100) > 100
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20


@pytest.mark.parametrize("with_point", [False, True])
def test_roc_figure(tmp_path, with_point):
    fpr, tpr, _ = roc_curve([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.7, 0.9])
    point = (0.5, 0.9) if with_point else None
    figure = plots.roc_figure(fpr, tpr, auc=0.78, operating_point=point)
    image = _saved(figure, tmp_path)
    _assert_drawn(image, figure)
    assert _pixels_near(image, ROC_BLUE) > 50
    assert (_pixels_near(image, THRESHOLD_RED) > 5) == with_point


def test_reliability_figure_skips_empty_bins(tmp_path):
    curve = reliability_curve([0, 1, 1, 0, 1], [0.05, 0.3, 0.8, 0.15, 0.95], n_bins=10)
    assert np.isnan(curve[0]).any()  # some bins are empty, and must not break the plot
    figure = plots.reliability_figure(*curve, ece=0.12)
    image = _saved(figure, tmp_path)
    _assert_drawn(image, figure)
    assert _pixels_near(image, ROC_BLUE, tolerance=20) > 30
    assert _pixels_near(image, BAR_BLUE, tolerance=10) > 30
    assert len(figure.axes) == 2


def test_confusion_figure_shades_rows_by_share(tmp_path):
    figure = plots.confusion_figure([[50, 4], [3, 60]], ("NORMAL", "PNEUMONIA"))
    image = _saved(figure, tmp_path)
    _assert_drawn(image, figure)
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts == ["50\n93%", "4\n7%", "3\n5%", "60\n95%"]
    # The diagonal cells (over 90 %) are dark blue: the Blues colormap near its top.
    assert np.sum(image[..., 0].astype(int) - image[..., 2] > 120) > 500


def test_history_figure_draws_the_keys_it_finds(tmp_path):
    history = {"loss": [0.7, 0.5, 0.4], "val_loss": [0.72, 0.6, 0.55], "auc": [0.6, 0.8, 0.9]}
    figure = plots.history_figure(history)
    image = _saved(figure, tmp_path)
    _assert_drawn(image, figure)
    loss, auc = figure.axes
    assert [len(loss.lines), len(auc.lines)] == [2, 1]
    assert [line.get_linestyle() for line in loss.lines] == ["-", "--"]
    np.testing.assert_array_equal(auc.lines[0].get_xdata(), [1, 2, 3])


@pytest.mark.parametrize("all_correct", [False, True])
def test_uncertainty_figure(tmp_path, all_correct):
    std = np.random.default_rng(0).random(40) * 0.2
    correct = np.ones(40, bool) if all_correct else np.arange(40) % 4 != 0
    figure = plots.uncertainty_figure(std, correct)
    image = _saved(figure, tmp_path)
    _assert_drawn(image, figure)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == (["correct (40)"] if all_correct else ["correct (30)", "wrong (10)"])
    # The bars are drawn with alpha 0.6 over white: 0.6 * colour + 0.4 * 255.
    assert _pixels_near(image, _over_white(CORRECT_GREEN), tolerance=12) > 100
    assert (_pixels_near(image, _over_white(THRESHOLD_RED), tolerance=12) > 100) == (
        not all_correct
    )


def test_figure_to_png_renders_at_the_requested_resolution():
    figure = plots.confusion_figure([[1, 0], [0, 1]], ("N", "P"))
    data = plots.figure_to_png(figure, dpi=40)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    width, height = figure.get_size_inches() * 40
    assert image.shape[:2] == (round(height), round(width))
    message = "Invalid value received for argument `dpi`. Expected an integer >= 1. Received: dpi=0"
    with pytest.raises(ValueError, match=re.escape(message)):
        plots.figure_to_png(figure, dpi=0)


def test_docstring_examples_run():
    result = doctest.testmod(plots, extraglobs={"keras_cxr": keras_cxr}, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_the_old_training_name_warns_and_is_the_same_module():
    import keras_cxr.training

    with pytest.warns(DeprecationWarning, match="keras_cxr.viz.plots"):
        assert keras_cxr.training.plots is plots
