"""Cross-finding leakage on hand-made maps and masks."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cxr.metrics import cross_finding_leakage, leakage_matrix


def masks_two_findings(n=3, size=8):
    own = np.zeros((n, size, size), bool)
    other = np.zeros((n, size, size), bool)
    own[:, :3, :3] = True  # finding A top-left (9 px)
    other[:, 5:, 5:] = True  # finding B bottom-right (9 px)
    return own, other


def test_hand_computed_shares():
    own, other = masks_two_findings()
    maps = np.zeros(own.shape)
    maps[0][own[0]] = 1.0  # all on A: no leakage
    maps[1][own[1]] = 1.0
    maps[1][other[1]] = 3.0  # 27 of 36 on B
    maps[2] = 1.0  # uniform over 64 px, 9 on B
    per_image = cross_finding_leakage(maps, own, other, per_image=True)
    np.testing.assert_allclose(per_image, [0.0, 27 / 36, 9 / 64])
    assert cross_finding_leakage(maps, own, other) == pytest.approx((27 / 36 + 9 / 64) / 3)


def test_overlap_counts_as_the_findings_own_and_unscored_images_are_nan():
    own, other = masks_two_findings(n=4)
    other[0, :3, :3] = True  # B also covers A's pixels: those are A's
    own[1] = False  # image without A
    other[2] = False  # image without B
    other[3] = own[3]  # B entirely inside A: nothing is "elsewhere"
    maps = np.ones(own.shape)
    per_image = cross_finding_leakage(maps, own, other, per_image=True)
    assert per_image[0] == pytest.approx(9 / 64)
    assert np.isnan(per_image[1:]).all()
    assert np.isnan(cross_finding_leakage(maps[1:], own[1:], other[1:]))


def test_a_zero_map_is_not_scored_and_scale_does_not_matter():
    own, other = masks_two_findings(n=1)
    assert np.isnan(cross_finding_leakage(np.zeros(own.shape), own, other))
    maps = np.random.default_rng(0).random(own.shape)
    assert cross_finding_leakage(7 * maps, own, other) == pytest.approx(
        cross_finding_leakage(maps, own, other)
    )
    with pytest.raises(ValueError, match=r"argument `heatmaps`. Expected non-negative"):
        cross_finding_leakage(-maps, own, other)
    with pytest.raises(ValueError, match=r"Expected the same shape as `heatmaps`"):
        cross_finding_leakage(maps, own[:, :4], other)


def test_leakage_matrix_by_hand():
    own, other = masks_two_findings(n=2)
    masks = np.stack([own, other], axis=1).astype(float)
    maps = masks.copy()
    maps[:, 0][other] = 1.0  # A's maps cover A and B equally: leakage 0.5
    maps[1, 1] = 0.0
    maps[1, 1, 0, 0] = 1.0  # B's map of image 1 sits on A alone
    matrix = leakage_matrix(maps, masks)
    assert np.isnan(np.diag(matrix)).all()
    assert matrix[0, 1] == pytest.approx(0.5)
    assert matrix[1, 0] == pytest.approx(0.5)  # mean of 0 and 1
    with pytest.raises(
        ValueError, match=r"argument `heatmaps`. Expected a non-empty array of shape \(N, K, H, W\)"
    ):
        leakage_matrix(maps[0], masks[0])
