"""Tests for keras_cxr.metrics.localization: hand-computed values and hypothesis properties."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_cxr.metrics import energy_in_mask, pointing_game, top_k_iou

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


class FakeExplanation:
    """Stands in for keras_cxr.Explanation: only the `.heatmaps` attribute is used."""

    def __init__(self, heatmaps):
        self.heatmaps = heatmaps


def _masks(shape, *boxes):
    """Masks of `shape` with one (image, row_slice, col_slice) box set per argument."""
    masks = np.zeros(shape, dtype=bool)
    for index, rows, cols in boxes:
        masks[index, rows, cols] = True
    return masks


@st.composite
def heatmaps_and_masks(draw, integer_heatmaps=True):
    """(heatmaps, masks) with every mask non-empty; heatmaps are small non-negative integers."""
    n = draw(st.integers(1, 3))
    h = draw(st.integers(2, 7))
    w = draw(st.integers(2, 7))
    heatmaps = draw(hnp.arrays(np.float64, (n, h, w), elements=st.integers(0, 20).map(float)))
    masks = draw(hnp.arrays(np.bool_, (n, h, w)))
    for index in range(n):
        row = draw(st.integers(0, h - 1))
        col = draw(st.integers(0, w - 1))
        masks[index, row, col] = True
    return heatmaps, masks


# ---------------------------------------------------------------- pointing_game


def test_pointing_game_counts_hits_by_hand():
    heatmaps = np.zeros((3, 4, 4))
    heatmaps[0, 1, 1] = 5.0  # inside the top-left box: hit
    heatmaps[1, 3, 3] = 5.0  # outside: miss
    heatmaps[2, 0, 3] = 5.0  # inside the top row: hit
    masks = _masks((3, 4, 4), (0, slice(0, 2), slice(0, 2)), (1, slice(0, 2), slice(0, 2)))
    masks[2, 0, :] = True
    assert pointing_game(heatmaps, masks) == pytest.approx(2 / 3)
    np.testing.assert_array_equal(pointing_game(heatmaps, masks, per_image=True), [1, 0, 1])


def test_pointing_game_excludes_empty_masks():
    heatmaps = np.zeros((3, 3, 3))
    heatmaps[:, 0, 0] = 1.0
    masks = np.zeros((3, 3, 3), dtype=bool)
    masks[0, 0, 0] = True  # hit
    masks[1, 2, 2] = True  # miss; image 2 has an empty mask
    per_image = pointing_game(heatmaps, masks, per_image=True)
    np.testing.assert_array_equal(per_image, [1.0, 0.0, np.nan])
    assert pointing_game(heatmaps, masks) == 0.5


def test_pointing_game_is_nan_when_every_mask_is_empty():
    assert np.isnan(pointing_game(np.ones((2, 3, 3)), np.zeros((2, 3, 3), dtype=bool)))


def test_pointing_game_breaks_ties_in_row_major_order():
    heatmaps = np.ones((1, 3, 3))  # constant: points at the top-left pixel
    assert pointing_game(heatmaps, _masks((1, 3, 3), (0, 0, 0))) == 1.0
    assert pointing_game(heatmaps, _masks((1, 3, 3), (0, 2, 2))) == 0.0


def test_pointing_game_tolerance_is_euclidean_pixels():
    heatmaps = np.zeros((1, 6, 6))
    heatmaps[0, 0, 0] = 1.0
    masks = _masks((1, 6, 6), (0, slice(3, 6), slice(4, 6)))  # nearest mask pixel: (3, 4)
    distance = np.hypot(3, 4)  # = 5
    assert pointing_game(heatmaps, masks, tolerance=0) == 0.0
    assert pointing_game(heatmaps, masks, tolerance=distance - 0.01) == 0.0
    assert pointing_game(heatmaps, masks, tolerance=distance) == 1.0
    assert pointing_game(heatmaps, masks, tolerance=15) == 1.0


@pytest.mark.parametrize("tolerance", [-1, float("nan"), "15", True])
def test_pointing_game_rejects_bad_tolerance(tolerance):
    with pytest.raises(ValueError, match="Invalid value received for argument `tolerance`"):
        pointing_game(np.ones((1, 2, 2)), np.ones((1, 2, 2)), tolerance=tolerance)


# ---------------------------------------------------------------- energy_in_mask


def test_energy_in_mask_by_hand():
    heatmaps = np.array([[[3.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    masks = np.array([[[1, 0], [0, 0]], [[1, 1], [1, 0]]])
    np.testing.assert_allclose(energy_in_mask(heatmaps, masks, per_image=True), [0.75, 0.75])
    assert energy_in_mask(heatmaps, masks) == pytest.approx(0.75)


def test_energy_in_mask_all_zero_heatmap_is_zero_not_nan():
    masks = _masks((1, 3, 3), (0, 1, 1))
    assert energy_in_mask(np.zeros((1, 3, 3)), masks) == 0.0


def test_energy_in_mask_excludes_empty_masks():
    heatmaps = np.ones((2, 2, 2))
    masks = _masks((2, 2, 2), (0, 0, slice(None)))
    np.testing.assert_array_equal(energy_in_mask(heatmaps, masks, per_image=True), [0.5, np.nan])
    assert energy_in_mask(heatmaps, masks) == 0.5


def test_energy_in_mask_rejects_negative_heatmaps():
    heatmaps = np.array([[[1.0, -0.5], [0.0, 0.0]]])
    with pytest.raises(ValueError, match=r"`heatmaps`. Expected non-negative values"):
        energy_in_mask(heatmaps, np.ones((1, 2, 2)))


# ---------------------------------------------------------------- top_k_iou


def test_top_k_iou_by_hand():
    heatmaps = np.array([[[4.0, 3.0], [2.0, 1.0]]])  # top-2 pixels: (0, 0) and (0, 1)
    masks = np.array([[[1, 0], [1, 0]]])  # (0, 0) and (1, 0): IoU = 1 / 3
    assert top_k_iou(heatmaps, masks, k=0.5) == pytest.approx(1 / 3)


def test_top_k_iou_top_one_pixel_against_two_pixel_mask():
    heatmaps = np.array([[[4.0, 3.0], [2.0, 1.0]]])
    masks = np.array([[[1, 0], [1, 0]]])
    # The top pixel (0, 0) is in the mask: intersection 1, union 2.
    assert top_k_iou(heatmaps, masks, k=0.25) == 0.5


def test_top_k_iou_rounds_to_nearest_pixel_count_and_keeps_at_least_one():
    heatmaps = np.arange(10, dtype=float)[::-1].reshape(1, 2, 5)  # pixel 0 is the top
    masks = np.zeros((1, 2, 5), dtype=bool)
    masks[0, 0, :3] = True
    assert top_k_iou(heatmaps, masks, k=0.26) == pytest.approx(3 / 3)  # round(2.6) = 3
    assert top_k_iou(heatmaps, masks, k=0.01) == pytest.approx(1 / 3)  # at least one pixel
    assert top_k_iou(heatmaps, masks, k=1.0) == pytest.approx(3 / 10)


def test_top_k_iou_excludes_empty_masks():
    heatmaps = np.ones((2, 2, 2))
    masks = _masks((2, 2, 2), (1, slice(None), slice(None)))
    np.testing.assert_array_equal(top_k_iou(heatmaps, masks, k=1.0, per_image=True), [np.nan, 1])


@pytest.mark.parametrize("k", [0, -0.1, 1.5, float("nan"), "0.1", None])
def test_top_k_iou_rejects_bad_k(k):
    expected = re.escape(f"Expected a float in (0, 1]. Received: k={k!r}")
    with pytest.raises(ValueError, match=expected):
        top_k_iou(np.ones((1, 2, 2)), np.ones((1, 2, 2)), k=k)


# ---------------------------------------------------------------- shared input handling


@pytest.mark.parametrize("metric", [pointing_game, energy_in_mask, top_k_iou])
def test_accepts_an_object_with_heatmaps_attribute(metric):
    heatmaps = np.array([[[3.0, 1.0], [0.0, 0.0]]])
    masks = np.array([[[1, 0], [0, 1]]])
    assert metric(FakeExplanation(heatmaps), masks) == metric(heatmaps, masks)


@pytest.mark.parametrize("metric", [pointing_game, energy_in_mask, top_k_iou])
def test_rejects_mask_of_another_resolution(metric):
    with pytest.raises(ValueError, match=r"Expected the same shape as `heatmaps`, \(1, 4, 4\)"):
        metric(np.ones((1, 4, 4)), np.ones((1, 8, 8), dtype=bool))


@pytest.mark.parametrize("metric", [pointing_game, energy_in_mask, top_k_iou])
def test_rejects_non_binary_masks(metric):
    with pytest.raises(ValueError, match="Expected a boolean or 0/1 array"):
        metric(np.ones((1, 2, 2)), np.full((1, 2, 2), 0.5))


@pytest.mark.parametrize("metric", [pointing_game, energy_in_mask, top_k_iou])
def test_rejects_heatmaps_that_are_not_3d(metric):
    expected = re.escape(
        "Expected a non-empty array of shape (N, H, W). Received: heatmaps.shape=(4, 4)"
    )
    with pytest.raises(ValueError, match=expected):
        metric(np.ones((4, 4)), np.ones((4, 4)))


@pytest.mark.parametrize("metric", [pointing_game, energy_in_mask, top_k_iou])
def test_rejects_non_finite_heatmaps(metric):
    heatmaps = np.ones((1, 2, 2))
    heatmaps[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="Expected finite values"):
        metric(heatmaps, np.ones((1, 2, 2)))


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(heatmaps_and_masks())
def test_heatmap_equal_to_mask_scores_one(data):
    _, masks = data
    heatmaps = masks.astype(float)
    for mask, heatmap in zip(masks, heatmaps):
        k = mask.mean()
        assert pointing_game(heatmap[None], mask[None]) == 1.0
        assert energy_in_mask(heatmap[None], mask[None]) == pytest.approx(1.0)
        assert top_k_iou(heatmap[None], mask[None], k=k) == 1.0


@settings(max_examples=60, deadline=None)
@given(heatmaps_and_masks(), st.floats(1e-3, 1e3))
def test_uniform_heatmap_energy_is_mask_area_fraction(data, level):
    _, masks = data
    heatmaps = np.full(masks.shape, level)
    np.testing.assert_allclose(
        energy_in_mask(heatmaps, masks, per_image=True), masks.mean(axis=(1, 2))
    )


@settings(max_examples=60, deadline=None)
@given(heatmaps_and_masks(), st.floats(1e-3, 1e3), st.floats(0.05, 1.0))
def test_metrics_are_invariant_to_positive_scaling(data, scale, k):
    heatmaps, masks = data
    scaled = heatmaps * scale
    np.testing.assert_array_equal(
        pointing_game(scaled, masks, per_image=True), pointing_game(heatmaps, masks, per_image=True)
    )
    np.testing.assert_allclose(
        energy_in_mask(scaled, masks, per_image=True),
        energy_in_mask(heatmaps, masks, per_image=True),
    )
    np.testing.assert_array_equal(
        top_k_iou(scaled, masks, k=k, per_image=True),
        top_k_iou(heatmaps, masks, k=k, per_image=True),
    )


@settings(max_examples=60, deadline=None)
@given(heatmaps_and_masks(), st.floats(0.05, 1.0))
def test_metrics_lie_in_unit_interval(data, k):
    heatmaps, masks = data
    for values in (
        pointing_game(heatmaps, masks, per_image=True),
        energy_in_mask(heatmaps, masks, per_image=True),
        top_k_iou(heatmaps, masks, k=k, per_image=True),
    ):
        assert values.shape == (len(heatmaps),)
        assert np.all((values >= 0) & (values <= 1 + 1e-12))
