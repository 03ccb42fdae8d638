"""ROAD: the imputation solves its linear system, and the curve follows the predictions."""

import numpy as np
import pytest

from keras_cxr import metrics
from keras_cxr.metrics.road_imputation import noisy_linear_imputation

pytestmark = pytest.mark.backends

NEIGHBOURS = {(dy, dx): (1 / 12 if dy and dx else 1 / 6) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
NEIGHBOURS.pop((0, 0))


def neighbour_mean(image, row, column):
    """The renormalised weighted mean of a pixel's in-frame neighbours, written out."""
    total, weights = 0.0, 0.0
    for (dy, dx), weight in NEIGHBOURS.items():
        y, x = row + dy, column + dx
        if 0 <= y < image.shape[0] and 0 <= x < image.shape[1]:
            total, weights = total + weight * image[y, x], weights + weight
    return total / weights


def test_every_imputed_pixel_is_the_weighted_mean_of_its_neighbours():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(7, 6, 2)).astype("float32")
    removed = rng.choice(42, 25, replace=False)  # including border and adjacent pixels
    filled = noisy_linear_imputation(image, removed, 0.0, rng)
    kept = np.setdiff1d(np.arange(42), removed)
    np.testing.assert_array_equal(filled.reshape(-1, 2)[kept], image.reshape(-1, 2)[kept])
    for index in removed:
        row, column = divmod(int(index), 6)
        for channel in range(2):
            expected = neighbour_mean(filled[..., channel].astype(np.float64), row, column)
            assert filled[row, column, channel] == pytest.approx(expected, abs=1e-5)


def test_a_linear_ramp_is_restored_inside_the_frame():
    rows, columns = np.mgrid[0:6, 0:6]
    image = (0.3 * rows - 0.2 * columns).astype("float32")[..., None]
    interior = np.array([row * 6 + column for row in (2, 3) for column in (1, 2, 3, 4)])
    filled = noisy_linear_imputation(image, interior, 0.0, np.random.default_rng(0))
    np.testing.assert_allclose(filled, image, atol=1e-6)


def test_noise_has_the_requested_spread_and_follows_the_seed():
    image = np.zeros((30, 30, 1), "float32")
    removed = np.arange(0, 900, 2)
    first = noisy_linear_imputation(image, removed, 0.5, np.random.default_rng(1))
    again = noisy_linear_imputation(image, removed, 0.5, np.random.default_rng(1))
    np.testing.assert_array_equal(first, again)
    assert first.reshape(-1)[removed].std() == pytest.approx(0.5, rel=0.1)


def dark_or_bright(batch):
    """Two classes: 1 when the mean of the top-left 2 x 2 region exceeds 0.5."""
    bright = batch[:, :2, :2, 0].mean(axis=(1, 2))
    return np.stack([1 - bright, bright], axis=1)


def test_road_flips_once_the_bright_region_is_imputed_away():
    images = np.zeros((2, 4, 4, 1), "float32")
    images[:, :2, :2] = 1.0
    pointing = images[0, ..., 0] + np.arange(16).reshape(4, 4)[::-1, ::-1] * 1e-3
    elsewhere = 1.0 - pointing  # the bright region last
    percentages, kept = metrics.road_curve(
        dark_or_bright, images, np.stack([pointing, elsewhere]), class_index=[1, 1],
        percentages=[10, 25, 50, 90], noise=0.0,
    )  # fmt: skip
    np.testing.assert_array_equal(percentages, [10, 25, 50, 90])
    # 10 %: the corner pixel goes, and its three neighbours, all bright, restore it. From
    # 25 % the whole region goes and the dark frame darkens it. The map pointing elsewhere
    # leaves bright pixels alone to the end, and imputation from bright pixels alone is
    # bright: the class is kept throughout.
    assert kept.tolist() == [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    values = metrics.road(dark_or_bright, images, np.stack([pointing, elsewhere]), 1,
                          percentages=[10, 25, 50, 90], noise=0.0, per_image=True)  # fmt: skip
    np.testing.assert_allclose(values, [0.25, 1.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"percentages": [0, 50]}, "percentages"),
        ({"percentages": [100]}, "percentages"),
        ({"noise": -0.1}, "noise"),
        ({"class_index": [1, 0, 1]}, r"class_index.*\(1,\)"),
        ({"class_index": -1}, "class_index"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    call = {"class_index": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        metrics.road(dark_or_bright, np.zeros((1, 4, 4, 1)), np.ones((1, 4, 4)), **call)
