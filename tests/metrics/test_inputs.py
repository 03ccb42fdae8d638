"""The finite-number check that five metric arguments share, through each public caller."""

import re

import numpy as np
import pytest

from keras_cxr import metrics

IMAGES = np.ones((1, 4, 4, 1), "float32")
MAPS = np.ones((1, 4, 4))


def identity_map(images, class_index):
    return np.asarray(images)[..., 0]


CALLERS = {
    "radius": (
        lambda value: metrics.max_sensitivity(identity_map, IMAGES, radius=value),
        "> 0",
    ),
    "std": (
        lambda value: metrics.local_lipschitz_estimate(identity_map, IMAGES, std=value),
        "> 0",
    ),
    "noise": (
        lambda value: metrics.road(lambda x: np.ones(len(x)), IMAGES, MAPS, 1, noise=value),
        ">= 0",
    ),
    "eps": (lambda value: metrics.effective_complexity(MAPS, eps=value), ">= 0"),
    "noise_magnitude": (
        lambda value: metrics.smooth_mprt(identity_map, None, IMAGES, noise_magnitude=value),
        ">= 0",
    ),
}


@pytest.mark.parametrize("argument", sorted(CALLERS))
@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), -0.5, "0.1", None])
def test_a_bad_number_is_named_with_its_bound(argument, value):
    call, bound = CALLERS[argument]
    message = (
        f"Invalid value received for argument `{argument}`. Expected a finite number {bound}. "
        f"Received: {argument}={value!r}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        call(value)


@pytest.mark.parametrize("argument", sorted(CALLERS))
def test_zero_is_refused_only_where_the_bound_is_strict(argument):
    call, bound = CALLERS[argument]
    if bound == "> 0":
        with pytest.raises(ValueError, match=re.escape(f"Received: {argument}=0")):
            call(0)
    elif argument != "noise_magnitude":  # smooth_mprt would go on to randomize `None`
        assert np.isfinite(call(0))


def test_numpy_scalars_count_as_numbers():
    assert metrics.effective_complexity(MAPS, eps=np.float32(0.5)) == 16.0
    value = metrics.max_sensitivity(identity_map, IMAGES, radius=np.float64(0.1), num_samples=2)
    assert 0 < value <= 0.1
