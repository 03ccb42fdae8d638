"""Transformer tokens: a toy ViT's CAMs against a hand-written Grad-CAM of its tokens."""

import doctest

import keras
import numpy as np
import pytest
from keras import ops

import keras_cxr
from keras_cxr import GradCAM, ScoreCAM
from keras_cxr.explain import Saliency, normalize, tokens, upsample
from keras_cxr.explain.graph import flatten_model
from keras_cxr.explain.tokens import TokenLayout, token_layout

from .autodiff import maps_and_gradients
from .models import PATCH, SIZE, WIDTH, toy_vit

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

IMAGES = np.random.default_rng(5).normal(0, 1, (3, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def vit():
    return toy_vit()


def run_by_hand(model, target):
    """`run(watch, x)`: the model's layers called in order, `target`'s output watched."""

    def run(watch, x):
        watched = []
        if target == "image":
            x = watch(x)
            watched.append(x)
        x = model.get_layer("patch_embed")(x)
        x = ops.reshape(x, (-1, (SIZE // PATCH) ** 2, WIDTH))
        x = model.get_layer("class_token")(x)
        for number in range(2):
            y = model.get_layer(f"block_{number}_norm1")(x)
            if f"block_{number}_norm1" == target:
                y = watch(y)
                watched.append(y)
            y = model.get_layer(f"block_{number}_attention")(y, y)
            x = x + y
            y = model.get_layer(f"block_{number}_norm2")(x)
            x = x + model.get_layer(f"block_{number}_mlp")(y)
        return watched, model.get_layer("logit")(model.get_layer("final_norm")(x)[:, 0])

    return run


def gradcam_of_tokens_by_hand(model, target):
    (feature,), (gradient,) = maps_and_gradients(
        run_by_hand(model, target), IMAGES, lambda logits: logits[:, 0]
    )
    grid = SIZE // PATCH
    feature = feature[:, 1:].reshape(-1, grid, grid, WIDTH)  # drop the class token
    gradient = gradient[:, 1:].reshape(-1, grid, grid, WIDTH)
    cam = np.maximum((gradient.mean(axis=(1, 2), keepdims=True) * feature).sum(-1), 0)
    return np.asarray(normalize(upsample(cam, (SIZE, SIZE))))


def test_the_last_attention_query_is_the_automatic_target(vit):
    assert GradCAM(vit).target_layers == ["block_1_norm1"]


def test_gradcam_of_the_tokens_matches_a_hand_written_one(vit):
    explanation = GradCAM(vit).explain(IMAGES, class_index=1)
    expected = gradcam_of_tokens_by_hand(vit, "block_1_norm1")
    assert expected.std() > 1e-3, "the map is not flat"
    np.testing.assert_allclose(explanation.heatmaps, expected, atol=1e-4)


def test_a_head_with_its_activation_in_the_dense_layer(vit):
    # The residual stream bypasses the target, so the head also takes it; the logits split
    # off `Dense(activation="sigmoid")` are a new tensor, which once hid that bypass
    # ("Output with path `` is not connected to `inputs`" from inside Keras).
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(vit.input, dense(vit.get_layer("final_norm").output[:, 0]))
    dense.set_weights(vit.get_layer("logit").get_weights())
    explanation = GradCAM(model).explain(IMAGES, class_index=1)
    expected = gradcam_of_tokens_by_hand(vit, "block_1_norm1")
    np.testing.assert_allclose(explanation.heatmaps, expected, atol=1e-4)


def test_a_named_token_layer_and_a_reshape_hook(vit):
    # An earlier block by name: its grid is read from the model too.
    explanation = GradCAM(vit, layer="block_0_norm1").explain(IMAGES, class_index=1)
    expected = gradcam_of_tokens_by_hand(vit, "block_0_norm1")
    np.testing.assert_allclose(explanation.heatmaps, expected, atol=1e-4)

    # The same layout by hand, as pytorch-grad-cam's reshape_transform.
    def reshape(t):
        return ops.reshape(t[:, 1:], (-1, 4, 4, t.shape[-1]))

    hooked = GradCAM(vit, layer="block_0_norm1", reshape=reshape).explain(IMAGES, class_index=1)
    np.testing.assert_allclose(hooked.heatmaps, explanation.heatmaps, atol=1e-6)


def test_scorecam_masks_with_the_token_grid(vit):
    # ScoreCAM reads the feature maps without gradients; LayerCAM shares GradCAM's path.
    explanation = ScoreCAM(vit).explain(IMAGES)
    assert explanation.heatmaps.shape == (3, SIZE, SIZE)
    assert np.isfinite(explanation.heatmaps).all()


def test_saliency_of_a_vit_matches_the_input_gradient(vit):
    # The pixel methods need no target layer: a ViT is one more differentiable model.
    explanation = Saliency(vit).explain(IMAGES, class_index=1)
    _, (gradient,) = maps_and_gradients(
        run_by_hand(vit, "image"), IMAGES, lambda logits: logits[:, 0]
    )
    expected = np.abs(gradient).max(-1)
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-3, atol=1e-6)


def test_register_tokens_are_dropped_with_the_class_token():
    model = toy_vit(extra=5, blocks=1)
    graph = flatten_model(model)
    node = next(n for n in graph.nodes if n.path == "block_0_norm1")
    assert token_layout(graph, node.outputs[0]) == TokenLayout(extra=5, height=4, width=4)
    assert GradCAM(model).explain(IMAGES).heatmaps.shape == (3, SIZE, SIZE)


def test_tokens_without_a_grid_need_reshape():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(WIDTH, PATCH, strides=PATCH)(inputs)
    x = keras.layers.Reshape((16, WIDTH))(x)
    x = keras.layers.Dense(WIDTH, name="mix")(keras.layers.Permute((2, 1))(x))  # 8 tokens
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    message = r"The layer `mix` outputs \(None, 8, 8\).*Pass `reshape=`"
    with pytest.raises(ValueError, match=message):
        GradCAM(model, layer="mix")
    explainer = GradCAM(model, layer="mix", reshape=lambda t: ops.reshape(t, (-1, 2, 4, 8)))
    assert explainer.explain(IMAGES).heatmaps.shape == (3, SIZE, SIZE)


def test_the_examples_in_the_docstrings_run(vit):
    graph = flatten_model(vit)
    node = next(n for n in graph.nodes if n.path == "block_1_norm1")
    extras = {"keras_cxr": keras_cxr, "keras": keras, "vit": vit, "graph": graph, "node": node}
    result = doctest.testmod(tokens, extraglobs=extras)
    assert result.attempted >= 6 and result.failed == 0
