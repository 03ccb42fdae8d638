"""`split_model`: what the CAM's head takes besides the target maps, and that it is right."""

import keras
import numpy as np
import pytest

from keras_cxr import GradCAM
from keras_cxr.explain import normalize, upsample
from keras_cxr.explain.graph import flatten_model
from keras_cxr.explain.split import split_model
from keras_cxr.explain.target_layers import resolve_layers

from .models import SIZE, toy_vit

#: Run under every Keras backend (tests/test_backends.py): the head's extra inputs are
#: closed over inside each backend's differentiated function.
pytestmark = pytest.mark.backends


def split_of(model, layer=None):
    graph = flatten_model(model)
    return split_model(graph, resolve_layers(graph, layer, graph.outputs[0]), graph.outputs[0])


def test_a_residual_stream_around_the_target_is_handed_over_not_recomputed():
    # Cut at the last block's norm1, the head also reads the stream x of `x + attention(..)`:
    # the features give it, so the head does not run the model again from the image.
    vit = toy_vit()
    split = split_of(vit)
    assert split.heads_need_image == [False] and split.head_crossing == [(1,)]
    assert len(split.features.outputs) == 2 and len(split.head.inputs) == 2
    images = np.random.default_rng(2).normal(0, 1, (2, SIZE, SIZE, 3)).astype("float32")
    logits = split.head(split.features(images))
    expected = vit.get_layer("logit").output  # the pre-sigmoid logit, run whole:
    whole = keras.Model(vit.input, expected)(images)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(logits), keras.ops.convert_to_numpy(whole), atol=1e-5
    )


def test_what_the_head_reads_of_the_image():
    # The mean colour of the image, computed before the cut, is handed over; the image
    # itself, where a layer after the cut reads it (maps × image), is passed in.
    inputs = keras.Input((8, 8, 3))
    maps = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    colour = keras.layers.GlobalAveragePooling2D()(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(maps)
    dense = keras.layers.Dense(1, activation="sigmoid", name="logit")
    crossing = keras.Model(inputs, dense(keras.layers.Concatenate()([pooled, colour])))
    gated = keras.layers.GlobalAveragePooling2D()(keras.layers.Multiply()([maps, inputs]))
    reading = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(gated))
    rng = np.random.default_rng(0)
    for model in (crossing, reading):  # the conv is shared: drawn twice, the last kept
        # Positive head weights, so that the maps are not zero everywhere after the ReLU.
        draws = [rng.normal(0, 0.5, w.shape) for w in model.weights]
        model.set_weights([np.abs(d) if d.ndim == 2 else d for d in draws])
    for model, layer, expected in [(crossing, None, ([False], [(1,)])),
                                   (reading, "conv", ([True], [()]))]:  # fmt: skip
        split = split_of(model, layer)
        assert (split.heads_need_image, split.head_crossing) == expected

    images = np.random.default_rng(4).uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    activations = keras.ops.convert_to_numpy(keras.Model(inputs, maps)(images))
    for model, weights in [
        # d logit / d A_c = w_c / 64 at every position: Grad-CAM is ReLU(Σ_c w_c A_c).
        (crossing, lambda w, x: np.broadcast_to(w[:3], (2, 3))),
        # d logit / d A_c(i, j) = w_c x_c(i, j) / 64, whose mean over positions weighs A_c.
        (reading, lambda w, x: w * x.mean(axis=(1, 2))),
    ]:
        w = model.layers[-1].get_weights()[0][:, 0]
        alpha = weights(w, images)
        raw = np.maximum(np.einsum("bhwc,bc->bhw", activations, alpha), 0)
        expected = keras.ops.convert_to_numpy(normalize(upsample(raw, (8, 8))))
        explanation = GradCAM(model, layer="conv").explain(images, class_index=1)
        assert expected.std() > 1e-3, "the reference map is flat"
        np.testing.assert_allclose(explanation.heatmaps, expected, atol=1e-5)
