"""Tests for keras_cxr.metrics.model_randomization on tiny dense models."""

import re

import keras
import numpy as np
import pytest

from keras_cxr.metrics import (
    model_randomization_test,
    randomize_model,
    spearman_rank_correlation,
    ssim,
)

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

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
        ({"seed": -1}, "Expected an integer >= 0. Received: seed=-1"),
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
