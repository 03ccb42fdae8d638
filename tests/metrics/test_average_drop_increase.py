"""Tests for keras_cxr.metrics.average_drop_increase, computed by hand on 2 x 2 images."""

import numpy as np
import pytest

from keras_cxr.metrics import average_drop, average_increase

from .perturbation_cases import ONES, ROW_MAJOR, RecordingPredict, region_score

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def _two_class_mean(batch):
    mean = batch.mean(axis=(1, 2, 3))
    return np.stack([mean, 1 - mean], axis=1)


def test_average_drop_and_increase_by_hand():
    images = np.ones((2, 2, 2, 1))
    # Image 1: weights [[1, .5], [0, 0]] -> masked mean .375. Image 2: all-zero heatmap -> 0.
    heatmaps = np.array([[[2.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    # Class 0 (mean): Y = 1, O = .375 and 0 -> drops .625 and 1, no increase.
    np.testing.assert_allclose(
        average_drop(_two_class_mean, images, heatmaps, 0, per_image=True), [0.625, 1.0]
    )
    assert average_drop(_two_class_mean, images, heatmaps, 0) == pytest.approx(0.8125)
    assert average_increase(_two_class_mean, images, heatmaps, 0) == 0.0
    # Class 1 (1 - mean): Y = 0 (drop defined as 0), O = .625 and 1 -> both increase.
    np.testing.assert_allclose(
        average_drop(_two_class_mean, images, heatmaps, 1, per_image=True), [0.0, 0.0]
    )
    np.testing.assert_array_equal(
        average_increase(_two_class_mean, images, heatmaps, 1, per_image=True), [1.0, 1.0]
    )


def test_average_drop_with_half_confidence_drop():
    images = np.full((1, 2, 2, 1), 0.8)
    heatmaps = np.array([[[1.0, 1.0], [0.0, 0.0]]])  # keeps half the pixels: Y .8 -> O .4
    assert average_drop(_two_class_mean, images, heatmaps, 0) == pytest.approx(0.5)
    assert average_increase(_two_class_mean, images, heatmaps, 0) == 0.0


def test_average_drop_is_scale_invariant_in_the_heatmap():
    rng = np.random.default_rng(3)
    images = rng.random((3, 5, 5, 1))
    heatmaps = rng.random((3, 5, 5))
    np.testing.assert_allclose(
        average_drop(_two_class_mean, images, heatmaps, 0, per_image=True),
        average_drop(_two_class_mean, images, 7.5 * heatmaps, 0, per_image=True),
        rtol=1e-6,
    )


def test_average_drop_batches_originals_with_masked_images():
    predict = RecordingPredict(_two_class_mean)
    average_drop(predict, np.ones((3, 2, 2, 1)), np.ones((3, 2, 2)), 0, batch_size=4)
    assert [len(batch) for batch in predict.batches] == [4, 2]


def test_average_drop_rejects_negative_scores_and_heatmaps():
    with pytest.raises(ValueError, match="needs non-negative scores"):
        average_drop(lambda batch: -batch.mean(axis=(1, 2, 3)), ONES, ROW_MAJOR, 1)
    with pytest.raises(ValueError, match=r"`heatmaps`\. Expected non-negative values"):
        average_increase(region_score, ONES, -ROW_MAJOR, 1)
