"""Quantus's localisation metrics against hand computations and slower references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from keras_cxr.metrics import (
    attribution_localisation,
    auc,
    energy_in_mask,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    roc_auc,
    top_k_intersection,
)

MAPS = np.array(
    [
        [[4.0, 3.0, 0.0], [2.0, 1.0, -1.0]],
        [[0.0, -2.0, 1.0], [5.0, 0.5, 2.0]],
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]],
    ]
)
MASKS = np.array(
    [
        [[True, False, False], [True, False, False]],
        [[False, True, True], [True, False, False]],
        [[False, False, False], [False, False, False]],
    ]
)


def test_relevance_mass_accuracy_by_hand():
    # Image 0: (4 + 2) / 9; image 1: (−2 + 1 + 5) / 6.5; image 2: empty mask.
    values = relevance_mass_accuracy(MAPS, MASKS, per_image=True)
    np.testing.assert_allclose(values[:2], [6 / 9, 4 / 6.5])
    assert np.isnan(values[2])
    assert relevance_mass_accuracy(MAPS, MASKS) == pytest.approx((6 / 9 + 4 / 6.5) / 2)


def test_relevance_mass_accuracy_equals_energy_for_non_negative_maps():
    maps = np.random.default_rng(0).uniform(size=(4, 5, 5))
    masks = np.random.default_rng(1).uniform(size=(4, 5, 5)) > 0.6
    np.testing.assert_allclose(
        relevance_mass_accuracy(maps, masks, per_image=True),
        energy_in_mask(maps, masks, per_image=True),
    )


def test_relevance_rank_accuracy_by_hand():
    # Image 0: K = 2, top two pixels 0 (4.0) and 1 (3.0): one in the mask.
    # Image 1: K = 3, top three 5.0 (pixel 3), 2.0 (pixel 5), 1.0 (pixel 2): two in the mask.
    values = relevance_rank_accuracy(MAPS, MASKS, per_image=True)
    np.testing.assert_allclose(values[:2], [1 / 2, 2 / 3])
    assert np.isnan(values[2])


def test_attribution_localisation_by_hand():
    # |a| of image 0: inside 4 + 2 = 6 of 11; of image 1: 2 + 1 + 5 = 8 of 10.5.
    values = attribution_localisation(MAPS, MASKS, per_image=True)
    np.testing.assert_allclose(values[:2], [6 / 11, 8 / 10.5])
    positive = attribution_localisation(MAPS, MASKS, positive_only=True, per_image=True)
    np.testing.assert_allclose(positive[:2], [6 / 10, 6 / 8.5])
    weighted = attribution_localisation(MAPS, MASKS, weighted=True, per_image=True)
    np.testing.assert_allclose(weighted[:2], [6 / 11 * 6 / 2, 8 / 10.5 * 6 / 3])
    corner = np.zeros((1, 4, 4), bool)
    corner[0, :2, :2] = True
    uniform = attribution_localisation(np.ones((1, 4, 4)), corner, weighted=True)
    assert uniform == pytest.approx(1.0)


def test_top_k_intersection_by_hand():
    # Image 0, k = 3: pixels 0, 1, 3 → two in the mask; image 1: pixels 3, 5, 2 → two.
    values = top_k_intersection(MAPS, MASKS, k=3, per_image=True)
    np.testing.assert_allclose(values[:2], [2 / 3, 2 / 3])
    influence = top_k_intersection(MAPS, MASKS, k=3, concept_influence=True, per_image=True)
    np.testing.assert_allclose(influence[:2], [2 / 3 * 6 / 2, 2 / 3 * 6 / 3])


def test_auc_equals_the_classifier_auc_of_the_pixels():
    rng = np.random.default_rng(2)
    maps = rng.integers(0, 4, size=(3, 6, 6)).astype(float)  # many ties
    masks = rng.uniform(size=(3, 6, 6)) > 0.5
    expected = [roc_auc(m.ravel().astype(int), a.ravel()) for a, m in zip(maps, masks)]
    np.testing.assert_allclose(auc(maps, masks, per_image=True), expected, rtol=1e-12)


def test_auc_is_undefined_without_outside_pixels():
    full = np.ones((1, 2, 2), bool)
    assert np.isnan(auc(np.ones((1, 2, 2)), full))


@settings(max_examples=60, deadline=None)
@given(
    maps=arrays(np.float64, (3, 3, 4), elements=st.integers(-2, 2).map(float)),
    masks=arrays(np.bool_, (3, 3, 4)),
    k=st.integers(1, 12),
)
def test_ties_are_taken_in_row_major_order_as_a_stable_sort_would(maps, masks, k):
    order = np.argsort(-maps.reshape(3, -1), axis=1, kind="stable")
    ranked = np.take_along_axis(masks.reshape(3, -1), order, axis=1)
    areas = masks.reshape(3, -1).sum(axis=1)
    with np.errstate(invalid="ignore"):
        rank = np.array([ranked[n, : areas[n]].sum() for n in range(3)]) / areas
    rank[areas == 0] = np.nan
    top = ranked[:, :k].mean(axis=1)
    top[areas == 0] = np.nan
    np.testing.assert_allclose(relevance_rank_accuracy(maps, masks, per_image=True), rank)
    np.testing.assert_allclose(top_k_intersection(maps, masks, k=k, per_image=True), top)


@settings(max_examples=30, deadline=None)
@given(
    maps=arrays(np.float64, (2, 4, 4), elements=st.floats(-5, 5)),
    masks=arrays(np.bool_, (2, 4, 4)),
    scale=st.floats(0.01, 100),
)
def test_rescaling_a_map_changes_nothing(maps, masks, scale):
    for metric in (relevance_rank_accuracy, attribution_localisation, auc):
        np.testing.assert_allclose(
            metric(scale * maps, masks, per_image=True),
            metric(maps, masks, per_image=True),
            rtol=1e-9,
        )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: auc(MAPS, MASKS[:, :1]), r"argument `masks`. Expected the same shape"),
        (lambda: relevance_mass_accuracy(MAPS, MASKS * 2), r"argument `masks`. Expected a bool"),
        (
            lambda: top_k_intersection(MAPS, MASKS, k=7),
            r"argument `k`. Expected at most the pixels of a map \(6\)",
        ),
        (lambda: top_k_intersection(MAPS, MASKS, k=0), r"argument `k`"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
