"""`per_image_interval` against a hand-written patient bootstrap of the mean."""

import numpy as np
import pytest

from keras_cxr.metrics import per_image_interval, relevance_rank_accuracy, sparseness
from keras_cxr.metrics.bootstrap import group_members, resample_cases


def bootstrap_by_hand(values, groups, resamples, seed):
    members = group_members(groups, len(values))
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(resamples):
        drawn = values[resample_cases(members, rng)]
        drawn = drawn[~np.isnan(drawn)]
        means.append(drawn.mean() if drawn.size else np.nan)
    means = np.array(means)
    kept = means[~np.isnan(means)]
    return np.percentile(kept, [2.5, 97.5]), resamples - kept.size


def test_the_interval_of_the_mean_resamples_patients():
    maps = np.random.default_rng(0).uniform(size=(8, 6, 6))
    masks = np.random.default_rng(1).uniform(size=(8, 6, 6)) > 0.7
    masks[[1, 2]] = False  # two images without a lesion: NaN, left out
    values = relevance_rank_accuracy(maps, masks, per_image=True)
    groups = ["a", "a", "b", "c", "c", "c", "d", "e"]
    interval = per_image_interval(values, groups, n_resamples=300, seed=4)
    (low, high), dropped = bootstrap_by_hand(values, groups, 300, 4)
    assert interval.point == pytest.approx(relevance_rank_accuracy(maps, masks))
    assert (interval.low, interval.high, interval.dropped) == pytest.approx((low, high, dropped))
    assert interval.low < interval.point < interval.high


def test_patients_give_wider_intervals_than_images_when_their_images_agree():
    # Each patient's two images have the same map: resampling images would pretend that
    # there are twice as many independent cases.
    maps = np.random.default_rng(2).uniform(size=(10, 5, 5)) ** 3
    values = np.repeat(sparseness(maps, per_image=True), 2)
    groups = np.repeat(np.arange(10), 2)
    by_patient = per_image_interval(values, groups, n_resamples=500)
    by_image = per_image_interval(values, None, n_resamples=500)
    assert by_patient.high - by_patient.low > 1.2 * (by_image.high - by_image.low)


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match=r"argument `values`. Expected a non-empty 1-D array"):
        per_image_interval(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"argument `groups`"):
        per_image_interval(np.zeros(3), groups=["a", "b"])
