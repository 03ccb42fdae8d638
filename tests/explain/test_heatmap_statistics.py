"""`keras_cxr.explain.heatmap_statistics`: peaks and region shares, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cxr.explain import heatmap_statistics
from keras_cxr.explain.heatmap_statistics import STATISTICS, region_masks


def test_a_single_hot_pixel():
    maps = np.zeros((3, 20, 20), np.float32)
    maps[0, 2, 2] = 1.0  # top-left corner: outside both regions
    maps[1, 10, 3] = 1.0  # row 10.5/20, column 3.5/20: the image-left lung box only
    maps[2, 7, 10] = 0.5  # column 10.5/20: the mediastinum, central but not lung
    stats = heatmap_statistics(maps)
    assert list(stats) == list(STATISTICS)
    np.testing.assert_allclose(stats["peak_row"], [2.5 / 20, 10.5 / 20, 7.5 / 20])
    np.testing.assert_allclose(stats["peak_col"], [2.5 / 20, 3.5 / 20, 10.5 / 20])
    np.testing.assert_array_equal(stats["central_share"], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(stats["lung_share"], [0.0, 1.0, 0.0])
    assert all(column.dtype == np.float32 for column in stats.values())


def test_shares_of_a_map_split_between_regions():
    maps = np.zeros((1, 20, 20))
    maps[0, 10, 3] = 3.0  # lung, not central (column 3.5/20 < 0.25)
    maps[0, 8, 8] = 1.0  # lung and central
    maps[0, 1, 19] = 4.0  # neither: a corner marker, and the peak
    stats = heatmap_statistics(maps)
    np.testing.assert_allclose(stats["central_share"], [1 / 8])
    np.testing.assert_allclose(stats["lung_share"], [4 / 8])
    np.testing.assert_allclose([stats["peak_row"][0], stats["peak_col"][0]], [1.5 / 20, 19.5 / 20])


def test_an_even_map_gets_the_regions_areas():
    stats = heatmap_statistics(np.ones((2, 40, 40), np.float32))
    np.testing.assert_allclose(stats["central_share"], [0.25, 0.25])
    np.testing.assert_allclose(stats["lung_share"], [0.36, 0.36])
    masks = region_masks(20, 20)
    assert masks["central"].sum() == 100 and masks["lung"].sum() == 12 * 12
    assert not masks["lung"][:, 9:11].any()  # the mediastinum is left out


def test_ties_peak_at_the_first_pixel_and_empty_maps_have_no_statistics():
    maps = np.zeros((2, 4, 4))
    maps[0, 3, 1] = maps[0, 1, 3] = 1.0
    stats = heatmap_statistics(maps)
    assert (stats["peak_row"][0], stats["peak_col"][0]) == (1.5 / 4, 3.5 / 4)
    assert all(np.isnan(column[1]) for column in stats.values())


def test_a_mapping_names_its_columns_per_branch():
    maps = np.zeros((1, 4, 4))
    maps[0, 0, 0] = 1.0
    stats = heatmap_statistics({"fused": maps, "b3": np.ones((1, 8, 8))})
    assert list(stats) == [f"{name}/{stat}" for name in ("fused", "b3") for stat in STATISTICS]
    assert stats["fused/peak_row"][0] == 0.125 and stats["b3/central_share"][0] == 0.25


def test_maps_that_are_not_3d_are_refused():
    with pytest.raises(ValueError, match=r"`b3`. Expected heatmaps of shape \(n, height, width\)"):
        heatmap_statistics({"b3": np.zeros((4, 4))})


def test_no_maps_give_empty_columns():
    stats = heatmap_statistics(np.zeros((0, 8, 8), np.float32))
    assert all(column.shape == (0,) and column.dtype == np.float32 for column in stats.values())
