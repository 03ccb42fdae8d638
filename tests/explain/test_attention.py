"""Attention rollout and gradient-weighted attention against NumPy recomputations.

The reference runs the toy ViT's layers by hand, with each attention recomputed from its
query/key/value projections (so the probabilities are not read the way the explainer
reads them), takes the gradients with the backend's own autodiff (`autodiff.py`), and
rolls the attention out in NumPy.
"""

import doctest

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

import keras_cxr
from keras_cxr._keras_internals import attention as internal_attention
from keras_cxr.explain import (
    AttentionGradient,
    AttentionRollout,
    attention_capture,
    attention_gradient,
    attention_rollout,
    base_attention,
    upsample,
)
from keras_cxr.explain.tokens import TokenLayout

from .autodiff import maps_and_gradients
from .models import PATCH, SIZE, WIDTH, ClassToken, toy_vit

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

IMAGES = np.random.default_rng(7).normal(0, 1, (3, SIZE, SIZE, 3)).astype("float32")
GRID = SIZE // PATCH


@pytest.fixture(scope="module")
def vit():
    return toy_vit()


@pytest.fixture(scope="module")
def rollout(vit):
    return AttentionRollout(vit)


@pytest.fixture(scope="module")
def gradient(vit):
    return AttentionGradient(vit)


def attention_by_hand(layer, x, watch):
    """`layer(x, x)` recomputed from its projections; the probabilities go through `watch`."""
    query, key, value = layer.query_dense(x), layer.key_dense(x), layer.value_dense(x)
    logits = ops.einsum("bthk,bshk->bhts", query, key) / np.sqrt(layer.key_dim)
    probabilities = watch(ops.softmax(logits, axis=-1))
    return layer.output_dense(ops.einsum("bhts,bshv->bthv", probabilities, value)), probabilities


def as_numpy(tensor):
    return ops.convert_to_numpy(ops.stop_gradient(tensor))


def run_by_hand(model, blocks=2):
    """`run(watch, x)` for `autodiff.maps_and_gradients`: the attention probabilities."""

    def run(watch, x):
        x = model.get_layer("patch_embed")(x)
        x = model.get_layer("class_token")(ops.reshape(x, (-1, GRID * GRID, WIDTH)))
        probabilities = []
        for number in range(blocks):
            y = model.get_layer(f"block_{number}_norm1")(x)
            y, p = attention_by_hand(model.get_layer(f"block_{number}_attention"), y, watch)
            probabilities.append(p)
            x = x + y
            y = model.get_layer(f"block_{number}_norm2")(x)
            x = x + model.get_layer(f"block_{number}_mlp")(y)
        return probabilities, model.get_layer("logit")(model.get_layer("final_norm")(x)[:, 0])

    return run


def on_the_image(relevance):
    """The class token's row over the patches, on the grid, upsampled as the explainers do."""
    patches = relevance[:, 0, 1:].reshape(-1, GRID, GRID)
    return np.asarray(upsample(patches, (SIZE, SIZE)))


def rollout_by_hand(probabilities):
    rolled = np.eye(probabilities[0].shape[-1])
    for p in probabilities:
        rolled = 0.5 * (p.mean(axis=1) + np.eye(p.shape[-1])) @ rolled
    return rolled


def gradient_rule_by_hand(probabilities, gradients):
    relevance = np.eye(probabilities[0].shape[-1])
    for p, g in zip(probabilities, gradients):
        relevance = relevance + np.maximum(g * p, 0).mean(axis=1) @ relevance
    return relevance


def test_the_hand_written_attention_is_the_layers_own(vit):
    layer = vit.get_layer("block_0_attention")
    tokens = np.random.default_rng(1).normal(0, 1, (2, 17, WIDTH)).astype("float32")
    expected, scores = layer(tokens, tokens, return_attention_scores=True)
    by_hand, probabilities = attention_by_hand(layer, tokens, lambda p: p)
    for ours, keras_own in [(by_hand, expected), (probabilities, scores)]:
        np.testing.assert_allclose(as_numpy(ours), as_numpy(keras_own), atol=1e-5)


def test_rollout_matches_numpy(vit, rollout):
    probabilities, _ = maps_and_gradients(run_by_hand(vit), IMAGES, lambda z: z[:, 0])
    expected = on_the_image(rollout_by_hand(probabilities))
    explanation = rollout.explain(IMAGES)
    assert expected.std() > 1e-3, "the reference map is flat"
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-4, atol=1e-6)
    assert explanation.target_layers == ["block_0_attention", "block_1_attention"]
    assert explanation.method == "attention-rollout"
    assert explanation.heatmaps.min() == 0.0 and explanation.heatmaps.max() == 1.0


@pytest.mark.parametrize("class_index, sign", [(1, 1.0), (0, -1.0)])
def test_the_gradient_rule_matches_numpy(vit, gradient, class_index, sign):
    # Class 1 of a sigmoid unit explains its logit, class 0 the negated logit.
    probabilities, gradients = maps_and_gradients(
        run_by_hand(vit), IMAGES, lambda logits: sign * logits[:, 0]
    )
    expected = on_the_image(gradient_rule_by_hand(probabilities, gradients))
    explanation = gradient.explain(IMAGES, class_index=class_index)
    assert expected.std() > 1e-4, "the reference map is flat"
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-3, atol=1e-6)
    assert explanation.class_index.tolist() == [class_index] * 3


def test_the_gradient_rule_is_class_specific_and_rollout_is_not(rollout, gradient):
    one, zero = (gradient.explain(IMAGES, class_index=c) for c in (1, 0))
    assert np.abs(one.attributions - zero.attributions).max() > 1e-4
    one, zero = (rollout.explain(IMAGES, class_index=c) for c in (1, 0))
    np.testing.assert_array_equal(one.attributions, zero.attributions)


def known_patch_vit():
    """A hand-set one-block ViT whose class token attends to the brightest patch and whose
    logit is that patch's brightness minus a half: its class is decided by one patch."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(2, PATCH, strides=PATCH, name="patch_embed")(inputs)
    x = ClassToken(1, name="class_token")(keras.layers.Reshape((GRID * GRID, 2))(x))
    attention = keras.layers.MultiHeadAttention(1, 1, use_bias=False, name="attention")
    x = keras.layers.Add()([x, attention(x, x)])
    logit = keras.layers.Dense(1, name="logit")(x[:, 0])
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(logit))
    embed = np.zeros((PATCH, PATCH, 3, 2), "float32")
    embed[..., 0] = 1.0 / (PATCH * PATCH * 3)  # channel 0: the patch's mean brightness
    model.get_layer("patch_embed").set_weights([embed, np.array([0.0, 1.0], "float32")])
    model.get_layer("class_token").set_weights([np.array([[[0.0, 1.0]]], "float32")])
    query = np.array([[[0.0]], [[10.0]]], "float32")  # every query is 10
    key = np.array([[[5.0]], [[0.0]]], "float32")  # a key is 5 × brightness
    value = np.array([[[1.0]], [[0.0]]], "float32")  # a value is the brightness
    attention.set_weights([query, key, value, np.array([[[1.0, 0.0]]], "float32")])
    model.get_layer("logit").set_weights([np.array([[1.0], [0.0]], "float32"), np.array([-0.5])])
    return model


@pytest.mark.parametrize("method", [AttentionRollout, AttentionGradient])
def test_the_peak_lands_on_the_patch_that_decides_the_class(method):
    model = known_patch_vit()
    patches = [(0, 3), (2, 1), (3, 0)]
    images = np.zeros((len(patches), SIZE, SIZE, 3), "float32")
    for image, (row, column) in zip(images, patches):
        image[row * PATCH : (row + 1) * PATCH, column * PATCH : (column + 1) * PATCH] = 1.0
    explanation = method(model).explain(images)
    assert explanation.class_index.tolist() == [1, 1, 1]
    for heatmap, (row, column) in zip(explanation.attributions, patches):
        peak = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        assert (peak[0] // PATCH, peak[1] // PATCH) == (row, column)


def test_registers_are_dropped_and_a_layout_can_be_given():
    model = toy_vit(extra=5, blocks=1)
    explanation = AttentionRollout(model).explain(IMAGES)
    given_layout = AttentionRollout(model, layout=TokenLayout(5, GRID, GRID)).explain(IMAGES)
    np.testing.assert_array_equal(explanation.attributions, given_layout.attributions)
    with pytest.raises(ValueError, match=r"`layout`.*extra \+ height \* width == 21"):
        AttentionRollout(model, layout=TokenLayout(1, GRID, GRID)).explain(IMAGES)


def test_a_model_without_attention_is_refused():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    with pytest.raises(ValueError, match=r"no `keras.layers.MultiHeadAttention` layer.*GradCAM"):
        AttentionRollout(model)


def test_cross_attention_and_a_shared_layer_are_refused():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Reshape((GRID * GRID, WIDTH * 6))(
        keras.layers.Conv2D(WIDTH * 6, PATCH, strides=PATCH)(inputs)
    )
    pooled = keras.layers.Dense(WIDTH * 6)(x[:, :4])  # 4 queries over 16 tokens
    cross = keras.layers.MultiHeadAttention(1, 2, name="cross")(pooled, x)
    head = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(cross))
    with pytest.raises(ValueError, match=r"`cross` gives attention of shape \(.*4, 16\)"):
        AttentionRollout(keras.Model(inputs, head)).explain(IMAGES)

    shared = keras.layers.MultiHeadAttention(1, 2, name="shared")
    twice = shared(shared(x, x), shared(x, x))
    head = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(twice))
    with pytest.raises(ValueError, match=r"`shared` ran more than once"):
        AttentionGradient(keras.Model(inputs, head)).explain(IMAGES)


def test_tokens_that_fit_no_grid_need_a_layout(vit):
    images = np.zeros((1, SIZE, SIZE + 1, 3), "float32")
    inputs = keras.Input((SIZE, SIZE + 1, 3))
    x = keras.layers.Conv2D(WIDTH, PATCH, strides=PATCH)(inputs)  # 4×4 of a 16×17 image
    x = keras.layers.Reshape((GRID * GRID, WIDTH))(x)
    x = keras.layers.MultiHeadAttention(1, 2)(x, x)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    message = r"Cannot tell how 16 attention tokens lie over 16x17 images.*Pass `layout="
    with pytest.raises(ValueError, match=message):
        AttentionRollout(model, score="output").explain(images, class_index=0)
    explained = AttentionRollout(model, score="output", layout=TokenLayout(0, GRID, GRID))
    assert explained.explain(images, class_index=0).heatmaps.shape == (1, SIZE, SIZE + 1)


def test_a_model_without_a_class_token_uses_the_mean_of_all_rows():
    relevance = np.random.default_rng(3).uniform(0, 1, (2, 4, 4)).astype("float32")
    rows = attention_capture.patch_relevance(relevance, TokenLayout(0, 2, 2))
    np.testing.assert_allclose(rows, relevance.mean(axis=1).reshape(2, 2, 2), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_rollout_rows_stay_distributions(layers, heads, seed):
    # Each Ã is row-stochastic, so their product is too.
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (layers, 2, heads, 5, 5))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    rollout = AttentionRollout.relevance(None, list(probabilities.astype("float32")), None)
    np.testing.assert_allclose(np.asarray(rollout).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(rollout, rollout_by_hand(list(probabilities)), atol=1e-5)


def test_the_examples_in_the_docstrings_run(vit):
    layer = keras.layers.MultiHeadAttention(4, 2)
    tokens = np.ones((2, 17, WIDTH), "float32")
    layer(tokens, tokens)  # built, as in a model
    capture = attention_capture.AttentionCapture(vit)
    extras = {
        "keras_cxr": keras_cxr,
        "keras": keras,
        "vit": vit,
        "images": IMAGES,
        "layer": layer,
        "tokens": tokens,
        "capture": capture,
    }
    modules = [
        internal_attention,
        attention_capture,
        base_attention,
        attention_rollout,
        attention_gradient,
    ]
    for module in modules:
        result = doctest.testmod(module, extraglobs=extras)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


def test_flash_attention_is_refused_with_the_fix():
    layer = keras.layers.MultiHeadAttention(1, 2, flash_attention=True, name="flash")
    message = r"`flash` uses flash attention.*disable_flash_attention"
    watched = internal_attention.watched_attention([layer], lambda index, p: p)
    with pytest.raises(ValueError, match=message), watched:
        pass


class Wrapped(keras.Model):
    """A subclassed model around the toy ViT: no graph, run whole."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, images):
        return self.inner(images)


def test_a_subclassed_model_is_run_whole(vit, rollout):
    wrapped = Wrapped(vit)
    expected = rollout.explain(IMAGES).attributions
    explanation = AttentionRollout(wrapped).explain(IMAGES)
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-5, atol=1e-7)
