"""Tests for keras_cxr.metrics.deletion_insertion with hand-made predict functions.

The baselines, batching and output-head checks exercise the plumbing that the faithfulness
metrics share (`keras_cxr.metrics._perturbation`) through its public callers.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_cxr.metrics import (
    curve_auc,
    deletion_auc,
    deletion_curve,
    insertion_auc,
    insertion_curve,
)

from .perturbation_cases import ONES, ROW_MAJOR, RecordingPredict, region_score

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def reference_blur(image, size=11, sigma=5.0):
    """Separable Gaussian blur with reflect-101 borders, written out with numpy only."""
    offsets = np.arange(size) - size // 2
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    pad = size // 2
    padded = np.pad(image.astype(np.float64), ((pad, pad), (pad, pad)), mode="reflect")
    rows = sum(kernel[i] * padded[i : i + image.shape[0], :] for i in range(size))
    return sum(kernel[j] * rows[:, j : j + image.shape[1]] for j in range(size))


# ---------------------------------------------------------------- curves by hand


def test_deletion_curve_one_pixel_per_step_by_hand():
    # Region pixels are ranks 0, 1, 4, 5: the score drops at steps 1, 2, 5 and 6.
    fractions, scores = deletion_curve(region_score, ONES, ROW_MAJOR, 1, steps=16, baseline="zero")
    np.testing.assert_allclose(fractions, np.arange(17) / 16)
    expected = [1, 0.75, 0.5, 0.5, 0.5, 0.25] + [0] * 11
    np.testing.assert_allclose(scores, [expected])


def test_insertion_curve_one_pixel_per_step_by_hand():
    fractions, scores = insertion_curve(region_score, ONES, ROW_MAJOR, 1, steps=16, baseline="zero")
    np.testing.assert_allclose(fractions, np.arange(17) / 16)
    expected = [0, 0.25, 0.5, 0.5, 0.5, 0.75] + [1] * 11
    np.testing.assert_allclose(scores, [expected])


def test_deletion_curve_several_pixels_per_step_by_hand():
    # Steps of 4 pixels remove whole rows: the region loses 2 pixels at each of steps 1, 2.
    fractions, scores = deletion_curve(region_score, ONES, ROW_MAJOR, 1, steps=4, baseline="zero")
    np.testing.assert_allclose(fractions, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(scores, [[1, 0.5, 0, 0, 0]])


def test_fractions_are_rounded_pixel_counts():
    fractions, scores = deletion_curve(region_score, ONES, ROW_MAJOR, 1, steps=3, baseline="zero")
    np.testing.assert_allclose(fractions, [0, 5 / 16, 11 / 16, 1])  # round(16/3), round(32/3)
    np.testing.assert_allclose(scores, [[1, 0.25, 0, 0]])


def test_more_steps_than_pixels_repeats_fractions():
    image = np.ones((1, 1, 2, 1))
    heatmap = np.array([[[1.0, 0.0]]])
    fractions, scores = deletion_curve(
        lambda batch: batch[:, 0, 0, 0], image, heatmap, 1, steps=4, baseline="zero"
    )
    np.testing.assert_allclose(fractions, [0, 0.5, 0.5, 1, 1])  # round(0.5) = 1 pixel at step 1
    np.testing.assert_allclose(scores, [[1, 0, 0, 0, 0]])
    assert curve_auc(fractions, scores)[0] == pytest.approx(0.25)


def test_ties_are_broken_in_row_major_order():
    flat = np.zeros((1, 4, 4))
    _, scores = deletion_curve(region_score, ONES, flat, 1, steps=16, baseline="zero")
    _, expected = deletion_curve(region_score, ONES, ROW_MAJOR, 1, steps=16, baseline="zero")
    np.testing.assert_allclose(scores, expected)


def test_auc_by_hand():
    # Deletion curve [1, .5, 0, 0, 0] on x = [0, .25, ...]: .25 * (1.5 / 2 + .5 / 2) = .25.
    kwargs = {"steps": 4, "baseline": "zero"}
    assert deletion_auc(region_score, ONES, ROW_MAJOR, 1, **kwargs) == pytest.approx(0.25)
    # Insertion curve [0, .5, 1, 1, 1]: .25 * (.25 + .75 + 1 + 1) = .75.
    assert insertion_auc(region_score, ONES, ROW_MAJOR, 1, **kwargs) == pytest.approx(0.75)
    np.testing.assert_allclose(curve_auc([0, 0.5, 1], [[1, 0, 0], [1, 1, 1]]), [0.25, 1.0])


def test_per_image_auc_and_multiple_images():
    images = np.concatenate([ONES, 2 * ONES])
    heatmaps = np.concatenate([ROW_MAJOR, ROW_MAJOR[:, ::-1, ::-1]])  # 2nd: region removed last
    areas = deletion_auc(
        region_score, images, heatmaps, 1, steps=4, baseline="zero", per_image=True
    )
    # Image 2 (intensity 2) loses rows 3, 2, 1, 0 in turn; its region (rows 0-1) goes at
    # steps 3 and 4: curve [2, 2, 2, 1, 0], area .25 * (2 + 2 + 1.5 + .5) = 1.5.
    np.testing.assert_allclose(areas, [0.25, 1.5])


# ---------------------------------------------------------------- baselines


def test_blur_baseline_matches_documented_gaussian():
    rng = np.random.default_rng(0)
    image = rng.random((1, 12, 12, 2)).astype(np.float32)
    predict = RecordingPredict(lambda batch: batch.mean(axis=(1, 2, 3)))
    deletion_curve(predict, image, rng.random((1, 12, 12)), 1, steps=2, baseline="blur")
    last = predict.batches[0][-1]  # everything deleted: the blurred image itself
    for channel in range(2):
        np.testing.assert_allclose(
            last[..., channel], reference_blur(image[0, ..., channel]), atol=1e-5
        )


def test_mean_and_zero_baselines():
    rng = np.random.default_rng(1)
    image = rng.random((1, 4, 4, 3)).astype(np.float32)
    predict = RecordingPredict(lambda batch: batch.mean(axis=(1, 2, 3)))
    deletion_curve(predict, image, ROW_MAJOR, 1, steps=2, baseline="mean")
    half, full = predict.batches[0][1], predict.batches[0][2]
    channel_means = image[0].mean(axis=(0, 1))
    np.testing.assert_allclose(full, np.broadcast_to(channel_means, (4, 4, 3)), rtol=1e-6)
    np.testing.assert_allclose(half[2:], image[0, 2:])  # bottom half not deleted yet
    np.testing.assert_allclose(half[:2], np.broadcast_to(channel_means, (2, 4, 3)), rtol=1e-6)
    predict.batches.clear()
    insertion_curve(predict, image, ROW_MAJOR, 1, steps=2, baseline="zero")
    np.testing.assert_array_equal(predict.batches[0][0], np.zeros((4, 4, 3)))
    np.testing.assert_array_equal(predict.batches[0][2], image[0])


# ---------------------------------------------------------------- batching


def test_predict_fn_is_called_on_float32_batches_of_batch_size():
    images = np.ones((3, 4, 4, 1))  # float64 in: float32 out
    heatmaps = np.repeat(ROW_MAJOR, 3, axis=0)
    predict = RecordingPredict()
    _, scores = deletion_curve(predict, images, heatmaps, 1, steps=4, batch_size=4)
    assert [len(batch) for batch in predict.batches] == [4, 4, 4, 3]  # 3 images x 5 steps
    assert all(
        batch.dtype == np.float32 and batch.shape[1:] == (4, 4, 1) for batch in predict.batches
    )
    assert scores.shape == (3, 5)


def test_batching_does_not_change_scores():
    rng = np.random.default_rng(2)
    images = rng.random((3, 6, 6, 2))
    heatmaps = rng.random((3, 6, 6))
    predict = RecordingPredict(lambda batch: batch[:, :3, :3].mean(axis=(1, 2, 3)))
    _, one_by_one = insertion_curve(predict, images, heatmaps, 1, steps=5, batch_size=1)
    assert len(predict.batches) == 18
    predict.batches.clear()
    _, straddling = insertion_curve(predict, images, heatmaps, 1, steps=5, batch_size=7)
    assert [len(batch) for batch in predict.batches] == [7, 7, 4]
    predict.batches.clear()
    _, at_once = insertion_curve(predict, images, heatmaps, 1, steps=5, batch_size=64)
    assert len(predict.batches) == 1
    np.testing.assert_allclose(straddling, one_by_one)
    np.testing.assert_allclose(at_once, one_by_one)


# ---------------------------------------------------------------- output heads


@pytest.mark.parametrize("as_column", [False, True])
def test_sigmoid_head_class_one_is_p_and_class_zero_is_one_minus_p(as_column):
    def sigmoid_head(batch):
        p = region_score(batch)
        return p[:, None] if as_column else p

    _, positive = deletion_curve(sigmoid_head, ONES, ROW_MAJOR, 1, steps=4, baseline="zero")
    _, negative = deletion_curve(sigmoid_head, ONES, ROW_MAJOR, 0, steps=4, baseline="zero")
    np.testing.assert_allclose(positive, [[1, 0.5, 0, 0, 0]])
    np.testing.assert_allclose(negative, 1 - positive)
    with pytest.raises(ValueError, match="Expected 0 or 1 for a single-unit sigmoid output"):
        deletion_curve(sigmoid_head, ONES, ROW_MAJOR, 2)


def test_softmax_head_selects_column():
    def two_classes(batch):
        p = region_score(batch)
        return np.stack([1 - p, p], axis=1)

    _, scores = deletion_curve(two_classes, ONES, ROW_MAJOR, 0, steps=4, baseline="zero")
    np.testing.assert_allclose(scores, [[0, 0.5, 1, 1, 1]])
    expected = re.escape("Expected an integer in [0, 2) for this output. Received: class_index=2")
    with pytest.raises(ValueError, match=expected):
        deletion_curve(two_classes, ONES, ROW_MAJOR, 2)


def test_rejects_predict_fn_output_of_wrong_shape():
    with pytest.raises(ValueError, match=r"`predict_fn` must return scores of shape"):
        deletion_curve(lambda batch: np.zeros((1, 2)), ONES, ROW_MAJOR, 0, batch_size=4)
    with pytest.raises(ValueError, match=r"Received an output of shape \(4, 2, 2\)"):
        deletion_curve(lambda batch: np.zeros((len(batch), 2, 2)), ONES, ROW_MAJOR, 0, batch_size=4)


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "Expected an integer >= 1. Received: steps=0"),
        ({"steps": 2.5}, "Expected an integer >= 1. Received: steps=2.5"),
        ({"batch_size": 0}, "Expected an integer >= 1. Received: batch_size=0"),
        (
            {"baseline": "noise"},
            "Expected one of ('blur', 'mean', 'min', 'zero'). Received: baseline='noise'",
        ),
        (
            {"baseline": None},
            "Expected one of ('blur', 'mean', 'min', 'zero'). Received: baseline=None",
        ),
        ({"class_index": -1}, "Expected an integer >= 0. Received: class_index=-1"),
        ({"class_index": True}, "Expected an integer >= 0. Received: class_index=True"),
    ],
)
@pytest.mark.parametrize("curve", [deletion_curve, insertion_curve])
def test_rejects_bad_arguments(curve, kwargs, message):
    arguments = {"class_index": 1, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        curve(region_score, ONES, ROW_MAJOR, **arguments)


def test_rejects_images_that_do_not_match_heatmaps():
    with pytest.raises(
        ValueError, match=re.escape("Expected (N, H, W) to match `heatmaps`, (1, 4, 4)")
    ):
        deletion_curve(region_score, np.ones((1, 8, 8, 1)), ROW_MAJOR, 1)
    with pytest.raises(ValueError, match=re.escape("Received: images.shape=(1, 4, 4)")):
        deletion_curve(region_score, np.ones((1, 4, 4)), ROW_MAJOR, 1)


def test_curve_auc_rejects_bad_fractions_and_scores():
    with pytest.raises(ValueError, match="Expected a non-decreasing 1-D array from 0 to 1"):
        curve_auc([0, 0.7, 0.5, 1], np.ones((1, 4)))
    with pytest.raises(ValueError, match=re.escape("Received: scores.shape=(1, 4)")):
        curve_auc([0, 0.5, 1], np.ones((1, 4)))


def test_accepts_an_object_with_heatmaps_attribute():
    class FakeExplanation:
        heatmaps = ROW_MAJOR

    _, expected = deletion_curve(region_score, ONES, ROW_MAJOR, 1, steps=4)
    _, scores = deletion_curve(region_score, ONES, FakeExplanation(), 1, steps=4)
    np.testing.assert_array_equal(scores, expected)


# ---------------------------------------------------------------- properties


@st.composite
def regions_and_heatmaps(draw):
    h, w = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    region = draw(hnp.arrays(np.bool_, (h, w)))
    region[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = True
    heatmap = draw(hnp.arrays(np.float64, (h, w), elements=st.floats(0, 1)))
    return region, heatmap


@settings(max_examples=40, deadline=None)
@given(regions_and_heatmaps(), st.integers(1, 8))
def test_perfect_heatmap_is_the_most_faithful(data, steps):
    region, heatmap = data
    image = np.ones((1, *region.shape, 1))

    def predict(batch):
        return batch[:, region, 0].mean(axis=1)

    perfect = region.astype(float)[None]
    kwargs = {"steps": steps, "baseline": "zero"}
    assert (
        deletion_auc(predict, image, perfect, 1, **kwargs)
        <= deletion_auc(predict, image, heatmap[None], 1, **kwargs) + 1e-9
    )
    assert (
        insertion_auc(predict, image, perfect, 1, **kwargs)
        >= insertion_auc(predict, image, heatmap[None], 1, **kwargs) - 1e-9
    )
