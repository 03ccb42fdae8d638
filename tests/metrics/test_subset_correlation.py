"""Faithfulness correlation on linear models, whose faithful map is known exactly."""

import numpy as np
import pytest

from keras_cxr import metrics
from keras_cxr.metrics.subset_correlation import random_subsets

pytestmark = pytest.mark.backends

RNG = np.random.default_rng(0)
WEIGHTS = RNG.normal(size=(3, 6, 6))
IMAGES = RNG.uniform(0.5, 1.5, size=(3, 6, 6, 1)).astype("float32")


def linear(batch):
    """A linear model with the weights WEIGHTS[0]: pixel i contributes x_i * w_i."""
    return (batch[..., 0] * WEIGHTS[0]).sum(axis=(1, 2))


def test_input_times_weight_is_perfectly_faithful_and_its_negation_anti_faithful():
    maps = IMAGES[:1, ..., 0] * WEIGHTS[:1]  # the contribution of each pixel
    call = {"nr_runs": 15, "subset_size": 6, "baseline": "zero"}
    assert metrics.faithfulness_correlation(linear, IMAGES[:1], maps, 1, **call) == (
        pytest.approx(1.0)
    )
    assert metrics.faithfulness_correlation(linear, IMAGES[:1], -maps, 1, **call) == (
        pytest.approx(-1.0)
    )


def test_matches_a_loop_over_the_same_subsets():
    maps = RNG.normal(size=(2, 6, 6))
    images = IMAGES[:2]
    values = metrics.faithfulness_correlation(
        linear, images, maps, 1, nr_runs=9, subset_size=4, seed=3, batch_size=5, per_image=True
    )
    subsets = random_subsets(36, 4, 2, 9, seed=3)
    expected = []
    for n in range(2):
        sums, drops = [], []
        for run in range(9):
            perturbed = images[n].copy().reshape(-1, 1)
            perturbed[subsets[run, n]] = images[n].min()
            drops.append(linear(images[n : n + 1])[0] - linear(perturbed.reshape(1, 6, 6, 1))[0])
            sums.append(maps[n].ravel()[subsets[run, n]].sum())
        expected.append(np.corrcoef(sums, drops)[0, 1])
    np.testing.assert_allclose(values, expected, rtol=1e-5)


def test_a_seed_or_a_generator_reproduces_the_subsets():
    maps = RNG.normal(size=(1, 6, 6))
    first = metrics.faithfulness_correlation(linear, IMAGES[:1], maps, 1, nr_runs=5, seed=4,
                                             subset_size=3)  # fmt: skip
    again = metrics.faithfulness_correlation(
        linear, IMAGES[:1], maps, 1, nr_runs=5, subset_size=3, seed=np.random.default_rng(4)
    )
    other = metrics.faithfulness_correlation(linear, IMAGES[:1], maps, 1, nr_runs=5, seed=5,
                                             subset_size=3)  # fmt: skip
    assert first == again != other


def test_a_constant_map_has_no_correlation():
    values = metrics.faithfulness_correlation(
        linear, IMAGES[:1], np.ones((1, 6, 6)), 1, nr_runs=4, subset_size=36, per_image=True
    )
    assert np.isnan(values).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"subset_size": 37}, r"subset_size.*at most H \* W = 36"),
        ({"nr_runs": 1, "subset_size": 3}, "nr_runs"),
        ({"baseline": "white", "subset_size": 3}, "baseline"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.faithfulness_correlation(linear, IMAGES[:1], WEIGHTS[:1], 1, **kwargs)
