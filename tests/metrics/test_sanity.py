"""Tests for keras_cxr.metrics.sanity: similarity measures and the randomization tests."""

import re

import keras
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_cxr.metrics import (
    label_randomization,
    model_randomization_test,
    randomize_model,
    spearman_rank_correlation,
    ssim,
)

C1, C2 = 0.01**2, 0.03**2


# ---------------------------------------------------------------- spearman


def test_spearman_by_hand():
    a = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    b = np.array([[[1.0, 3.0], [2.0, 4.0]]])
    # Rank differences (0, 1, 1, 0): rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8.
    assert spearman_rank_correlation(a, b) == pytest.approx(0.8)


def test_spearman_averages_tied_ranks():
    a = np.array([[[1.0, 2.0], [2.0, 3.0]]])  # ranks 1, 2.5, 2.5, 4
    b = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # ranks 1, 2, 3, 4
    # Centred ranks (-1.5, 0, 0, 1.5) and (-1.5, -.5, .5, 1.5): 4.5 / sqrt(4.5 * 5).
    assert spearman_rank_correlation(a, b) == pytest.approx(np.sqrt(0.9))


def test_spearman_identical_and_reversed():
    a = np.random.default_rng(0).random((3, 5, 5))
    assert spearman_rank_correlation(a, a) == pytest.approx(1.0)
    np.testing.assert_allclose(spearman_rank_correlation(a, -a, per_image=True), [-1, -1, -1])


def test_spearman_constant_map_is_nan_and_skipped_in_the_mean():
    a = np.random.default_rng(1).random((2, 3, 3))
    b = a.copy()
    b[1] = 0.0  # e.g. an all-zero Grad-CAM after randomization
    np.testing.assert_array_equal(spearman_rank_correlation(a, b, per_image=True), [1.0, np.nan])
    assert spearman_rank_correlation(a, b) == pytest.approx(1.0)
    assert np.isnan(spearman_rank_correlation(a[1:], b[1:]))


@settings(max_examples=50, deadline=None)
@given(
    hnp.array_shapes(min_dims=3, max_dims=3, min_side=2, max_side=5).flatmap(
        lambda shape: st.tuples(
            hnp.arrays(np.float64, shape, elements=st.integers(0, 5).map(float)),
            hnp.arrays(np.float64, shape, elements=st.integers(0, 5).map(float)),
        )
    ),
    st.floats(1e-3, 1e3),
)
def test_spearman_matches_scipy_and_ignores_positive_scaling(maps, scale):
    a, b = maps
    ours = spearman_rank_correlation(a, b, per_image=True)
    for value, map_a, map_b in zip(ours, a, b):
        if np.ptp(map_a) == 0 or np.ptp(map_b) == 0:
            assert np.isnan(value)
        else:
            expected = scipy.stats.spearmanr(map_a.ravel(), map_b.ravel()).statistic
            assert value == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(
        spearman_rank_correlation(a * scale, b, per_image=True), ours, atol=1e-12
    )


def test_spearman_rejects_mismatched_shapes():
    expected = re.escape("Expected the same shape as `a`, (1, 3, 3). Received: b.shape=(1, 3, 4)")
    with pytest.raises(ValueError, match=expected):
        spearman_rank_correlation(np.ones((1, 3, 3)), np.ones((1, 3, 4)))


# ---------------------------------------------------------------- ssim


def reference_ssim(x, y):
    """SSIM written out window by window (Wang et al. 2004, Gaussian 11 x 11, sigma 1.5)."""
    offsets = np.arange(11) - 5
    weights = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5**2))
    weights /= weights.sum()
    values = []
    for row in range(x.shape[0] - 10):
        for col in range(x.shape[1] - 10):
            wx, wy = x[row : row + 11, col : col + 11], y[row : row + 11, col : col + 11]
            mx, my = (weights * wx).sum(), (weights * wy).sum()
            vx = (weights * (wx - mx) ** 2).sum()
            vy = (weights * (wy - my) ** 2).sum()
            cov = (weights * (wx - mx) * (wy - my)).sum()
            values.append(
                (2 * mx * my + C1) * (2 * cov + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
            )
    return np.mean(values)


def test_ssim_matches_window_by_window_reference():
    rng = np.random.default_rng(2)
    a = rng.random((2, 13, 14))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    expected = [reference_ssim(x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(ssim(a, b, per_image=True), expected, atol=1e-10)
    assert ssim(a, b) == pytest.approx(np.mean(expected), abs=1e-10)


@pytest.mark.parametrize(("level_a", "level_b"), [(0.2, 0.2), (0.2, 0.6), (0.0, 1.0)])
def test_ssim_of_constant_maps_by_hand(level_a, level_b):
    # Zero variances: SSIM = (2 a b + C1) / (a^2 + b^2 + C1) * C2 / C2.
    a = np.full((1, 11, 11), level_a)
    b = np.full((1, 11, 11), level_b)
    expected = (2 * level_a * level_b + C1) / (level_a**2 + level_b**2 + C1)
    assert ssim(a, b) == pytest.approx(expected)


def test_ssim_identical_is_one_and_symmetric():
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 1, 16, 16))
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(ssim(b, a))
    assert ssim(a, 1 - a) < 0


def test_ssim_rejects_values_outside_unit_interval():
    expected = re.escape("`b`. Expected values in [0, 1] (SSIM uses data_range=1")
    with pytest.raises(ValueError, match=expected):
        ssim(np.ones((1, 11, 11)), np.full((1, 11, 11), 2.0))


def test_ssim_rejects_maps_smaller_than_the_window():
    with pytest.raises(ValueError, match=r"Expected maps of at least 11 x 11 pixels"):
        ssim(np.ones((1, 7, 7)), np.ones((1, 7, 7)))


# ---------------------------------------------------------------- randomize_model


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(32, name="hidden"),
            keras.layers.Dense(2, name="head"),
        ]
    )
    # Non-zero biases, so that re-initializing them is visible.
    weights = model.get_weights()
    weights[1] = np.linspace(-1, 1, 32).astype("float32")
    weights[3] = np.array([0.5, -0.5], dtype="float32")
    model.set_weights(weights)
    return model


def _layer_weights(model, name):
    return [np.array(w) for w in model.get_layer(name).get_weights()]


def _assert_same(left, right):
    for a, b in zip(left, right, strict=True):
        np.testing.assert_array_equal(a, b)


def _assert_all_differ(left, right):
    for a, b in zip(left, right, strict=True):
        assert not np.any(a == b)


def test_cascading_randomizes_from_the_head_down_and_leaves_the_model_alone():
    model = tiny_model()
    before = model.get_weights()
    copies = list(randomize_model(model, mode="cascading", seed=0))
    assert [name for name, _ in copies] == ["head", "hidden"]
    (_, head_only), (_, both) = copies
    assert head_only is not model and both is not head_only
    _assert_all_differ(_layer_weights(head_only, "head"), _layer_weights(model, "head"))
    _assert_same(_layer_weights(head_only, "hidden"), _layer_weights(model, "hidden"))
    _assert_same(_layer_weights(both, "head"), _layer_weights(head_only, "head"))
    _assert_all_differ(_layer_weights(both, "hidden"), _layer_weights(model, "hidden"))
    _assert_same(model.get_weights(), before)
    inputs = np.ones((1, 3), dtype="float32")
    assert not np.allclose(head_only.predict(inputs, verbose=0), model.predict(inputs, verbose=0))


def test_independent_randomizes_one_layer_at_a_time_with_the_same_noise():
    model = tiny_model()
    cascading = dict(randomize_model(model, mode="cascading", seed=4))
    independent = dict(randomize_model(model, mode="independent", seed=4))
    assert list(independent) == ["head", "hidden"]
    _assert_same(_layer_weights(independent["hidden"], "head"), _layer_weights(model, "head"))
    _assert_same(
        _layer_weights(independent["hidden"], "hidden"),
        _layer_weights(cascading["hidden"], "hidden"),
    )
    _assert_same(
        _layer_weights(independent["head"], "head"), _layer_weights(cascading["head"], "head")
    )


def test_randomized_weights_keep_the_standard_deviation_and_follow_the_seed():
    model = tiny_model()
    original = _layer_weights(model, "hidden")
    ((_, first),) = randomize_model(model, layers=["hidden"], seed=1)
    ((_, again),) = randomize_model(model, layers="hidden", seed=1)
    ((_, other),) = randomize_model(model, layers=["hidden"], seed=2)
    randomized = _layer_weights(first, "hidden")
    for new, old in zip(randomized, original):
        assert new.std() == pytest.approx(old.std(), rel=0.35)
        assert abs(new.mean()) < 3 * old.std() / np.sqrt(new.size) + 1e-6
    _assert_same(randomized, _layer_weights(again, "hidden"))
    _assert_all_differ(randomized, _layer_weights(other, "hidden"))
    _assert_same(_layer_weights(first, "head"), _layer_weights(model, "head"))


def test_nested_layers_are_visited_and_batch_norm_statistics_are_kept():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, name="a"),
            keras.layers.BatchNormalization(name="bn"),
        ],
        name="inner",
    )
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inner(inputs)))
    assert [name for name, _ in randomize_model(model)] == ["head", "inner/a"]
    ((_, copy),) = randomize_model(model, layers=["a"])
    ((_, same),) = randomize_model(model, layers=["inner/a"])
    _assert_same(copy.get_weights(), same.get_weights())
    bn_before = model.get_layer("inner").get_layer("bn").get_weights()
    _assert_same(copy.get_layer("inner").get_layer("bn").get_weights(), bn_before)
    assert not np.array_equal(
        copy.get_layer("inner").get_layer("a").get_weights()[0],
        model.get_layer("inner").get_layer("a").get_weights()[0],
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"mode": "random"},
            "Expected one of ('cascading', 'independent'). Received: mode='random'",
        ),
        ({"seed": -1}, "Expected a non-negative integer. Received: seed=-1"),
        (
            {"layers": ["nope"]},
            "Expected names of layers with a kernel or bias, among ['hidden', 'head']. "
            "Received: layers='nope'",
        ),
        ({"layers": []}, "Expected a non-empty list of layer names or None. Received: layers=[]"),
    ],
)
def test_randomize_model_rejects_bad_arguments_immediately(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        randomize_model(tiny_model(), **kwargs)


def test_randomize_model_rejects_an_unbuilt_model():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no layer with a kernel or bias to randomize"):
        randomize_model(model)


# ---------------------------------------------------------------- model_randomization_test


def linear_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((144,)),
            keras.layers.Dense(4, name="hidden"),
            keras.layers.Dense(1, name="head"),
        ]
    )


def input_times_gradient(model, images):
    """|input x gradient| of a linear model, computed from its weights."""
    kernel_1, _, kernel_2, _ = model.get_weights()
    return np.abs(images * (kernel_1 @ kernel_2)[:, 0]).reshape(-1, 12, 12)


def test_explanation_that_ignores_the_model_fails_the_sanity_check():
    images = np.random.default_rng(0).random((2, 144))
    rows = model_randomization_test(
        lambda model, images: images.reshape(-1, 12, 12), linear_model(), images
    )
    assert [row["layer"] for row in rows] == ["head", "hidden"]
    for row in rows:
        assert row["spearman"] == pytest.approx(1.0)
        assert row["ssim"] == pytest.approx(1.0)


def test_model_dependent_explanation_changes_after_randomization():
    model = linear_model()
    images = np.random.default_rng(0).random((3, 144))
    rows = model_randomization_test(input_times_gradient, model, images, mode="independent")
    assert set(rows[0]) == {"layer", "spearman", "ssim", "constant_maps"}
    assert [row["constant_maps"] for row in rows] == [0, 0]
    for row in rows:
        assert row["spearman"] < 0.9
        assert row["ssim"] < 0.9
    # A hand check of one row: compare with the similarity functions directly.
    ((_, randomized),) = randomize_model(model, mode="independent", layers=["head"])
    original = input_times_gradient(model, images)
    changed = input_times_gradient(randomized, images)
    assert rows[0]["spearman"] == pytest.approx(spearman_rank_correlation(original, changed))

    def normalize(maps):
        low = maps.min(axis=(1, 2), keepdims=True)
        return (maps - low) / (maps.max(axis=(1, 2), keepdims=True) - low)

    assert rows[0]["ssim"] == pytest.approx(ssim(normalize(original), normalize(changed)))


def test_constant_randomized_maps_are_counted_and_left_out_of_spearman():
    images = np.random.default_rng(1).random((3, 144))
    original = images.reshape(-1, 12, 12)

    def explain_fn(model, batch):
        if model is trained:
            return original
        # Randomized copies: the first image's map goes empty, the others stay the same.
        return np.concatenate([np.zeros((1, 12, 12)), original[1:]])

    trained = linear_model()
    rows = model_randomization_test(explain_fn, trained, images)
    for row in rows:
        assert row["constant_maps"] == 1
        assert row["spearman"] == pytest.approx(1.0)  # the mean of the two defined images
        assert row["ssim"] < 1.0  # the empty map counts in SSIM


def test_model_randomization_test_rejects_changing_heatmap_shapes():
    calls = []

    def explain_fn(model, images):
        calls.append(model)
        size = 12 if len(calls) == 1 else 13
        return np.zeros((len(images), size, size))

    with pytest.raises(ValueError, match=re.escape("Received: b.shape=(2, 13, 13)")):
        model_randomization_test(explain_fn, linear_model(), np.zeros((2, 144)))


# ---------------------------------------------------------------- label_randomization


def test_label_randomization_permutes_rows_without_touching_the_input():
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1]])
    original = labels.copy()
    shuffled = label_randomization(labels, seed=3)
    np.testing.assert_array_equal(labels, original)
    assert shuffled.shape == labels.shape and shuffled.dtype == labels.dtype
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, labels))
    np.testing.assert_array_equal(shuffled, label_randomization(labels, seed=3))
    many = np.arange(100)
    assert not np.array_equal(label_randomization(many, seed=0), many)


@pytest.mark.parametrize(
    ("labels", "seed", "message"),
    [
        (3, 0, "Expected an array of shape (N, ...). Received: labels=3"),
        ([0, 1], -2, "Expected a non-negative integer. Received: seed=-2"),
    ],
)
def test_label_randomization_rejects_bad_arguments(labels, seed, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        label_randomization(labels, seed=seed)
