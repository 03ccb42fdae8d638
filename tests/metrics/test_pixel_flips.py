"""Pixel flipping, against the deletion curve it specialises and hand-computed curves."""

import numpy as np
import pytest

from keras_cxr import metrics
from tests.metrics.perturbation_cases import ONES, ROW_MAJOR, RecordingPredict, region_score

pytestmark = pytest.mark.backends  # numpy only, but its doctests run under every backend


def test_one_pixel_a_step_flips_the_top_left_region_first():
    fractions, scores = metrics.pixel_flipping_curve(
        region_score, ONES, ROW_MAJOR, class_index=1, baseline="zero"
    )
    np.testing.assert_allclose(fractions, np.arange(1, 17) / 16)
    # Row-major order flips (0,0), (0,1), then (0,2), (0,3) outside the region, then (1,0) ...
    expected = [0.75, 0.5, 0.5, 0.5, 0.25, 0.0] + [0.0] * 10
    np.testing.assert_allclose(scores[0], expected)


def test_equals_the_deletion_curve_at_one_pixel_a_step():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 5, 5, 2)).astype("float32")
    maps = rng.normal(size=(3, 5, 5))

    def score(batch):
        return batch.reshape(len(batch), -1) @ np.linspace(-1, 1, 50)

    _, flipped = metrics.pixel_flipping_curve(score, images, maps, 1, baseline="min")
    _, deleted = metrics.deletion_curve(score, images, maps, 1, steps=25, baseline="min")
    np.testing.assert_allclose(flipped, deleted[:, 1:], rtol=0, atol=1e-6)


def test_a_last_partial_step_flips_the_rest_and_batches_stay_bounded():
    predict = RecordingPredict()
    fractions, scores = metrics.pixel_flipping_curve(
        predict, np.repeat(ONES, 2, axis=0), np.repeat(ROW_MAJOR, 2, axis=0), 1,
        features_in_step=5, batch_size=3,
    )  # fmt: skip
    np.testing.assert_allclose(fractions, [5 / 16, 10 / 16, 15 / 16, 1.0])
    assert scores.shape == (2, 4)
    assert max(len(batch) for batch in predict.batches) == 3
    assert sum(len(batch) for batch in predict.batches) == 8


def test_area_is_over_the_share_of_flipped_pixels_and_per_image_feeds_an_interval():
    images = np.stack([ONES[0], 2 * ONES[0]])
    values = metrics.pixel_flipping(
        region_score, images, np.repeat(ROW_MAJOR, 2, axis=0), 1, baseline="zero",
        per_image=True,
    )  # fmt: skip
    scores = np.array([0.75, 0.5, 0.5, 0.5, 0.25] + [0.0] * 11)
    single = np.sum((scores[1:] + scores[:-1]) / 2) / 16
    np.testing.assert_allclose(values, [single, 2 * single])
    interval = metrics.per_image_interval(values, n_resamples=50)
    assert interval.point == pytest.approx(1.5 * single)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"features_in_step": 0}, "features_in_step"),
        ({"baseline": "black"}, "baseline"),
        ({"class_index": -1}, "class_index"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    call = {"class_index": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        metrics.pixel_flipping(region_score, ONES, ROW_MAJOR, **call)
