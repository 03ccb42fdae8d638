"""Tests of `GradCAMCallback(model=...)`: explaining a model that shares the trained layers."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.callbacks import GradCAMCallback

from ._toy import SIZE, data, files, tiny_model

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def _image_and_head_models():
    """An image → prediction model, and a features → prediction model calling the same
    Dense layer object: training the head trains the image model's variables."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    dense = keras.layers.Dense(1, activation="sigmoid", name="classifier")
    image_model = keras.Model(inputs, dense(pooled), name="image_model")
    features = keras.Input((4,), name="features")
    head = keras.Model(features, dense(features), name="head")
    head.compile(keras.optimizers.SGD(1.0), "binary_crossentropy")
    return image_model, head, keras.Model(inputs, pooled, name="backbone")


def test_model_argument_explains_a_model_sharing_the_trained_layers(tmp_path):
    image_model, head, backbone = _image_and_head_models()
    images, labels = data(16)
    features = backbone.predict(images, verbose=0)
    watched, classes = images[:4], labels[:4, 0].astype(int)
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            explanation = callback.last_explanation
            current = image_model.predict(watched, verbose=0)  # computed apart, this epoch
            seen.append((callback.explainer, explanation.heatmaps, explanation.predictions))
            np.testing.assert_allclose(explanation.predictions, current, rtol=1e-5, atol=1e-6)

    callback = GradCAMCallback(watched, labels=classes, log_dir=tmp_path, model=image_model)
    kernel_before = head.get_layer("classifier").get_weights()[0].copy()
    head.fit(features, labels, epochs=3, verbose=0, callbacks=[callback, Recorder()])

    assert callback.model is head and callback.explained_model is image_model
    assert callback.explainer.model is image_model and callback.logged_epochs == [0, 1, 2]
    assert all(explainer is callback.explainer for explainer, _, _ in seen)  # built once
    assert not np.allclose(head.get_layer("classifier").get_weights()[0], kernel_before)
    assert not np.allclose(seen[0][2], seen[-1][2], atol=1e-4)  # predictions moved
    assert np.abs(seen[0][1] - seen[-1][1]).max() > 1e-3  # and so did the heatmaps
    fresh = keras_cxr.GradCAM(image_model).explain(watched, class_index=classes)
    np.testing.assert_allclose(callback.last_explanation.heatmaps, fresh.heatmaps, atol=1e-5)
    np.testing.assert_allclose(callback.last_explanation.predictions, fresh.predictions, rtol=1e-5)

    explainer = callback.explainer
    head.fit(features, labels, epochs=1, verbose=0, callbacks=[callback])  # a second fit
    assert callback.explainer is explainer
    assert {"epoch_001.png", "epoch_003.png"} <= set(files(tmp_path))


def test_model_argument_needs_no_trained_model(tmp_path):
    images, _ = data(2)
    model = tiny_model()
    callback = GradCAMCallback(images, log_dir=tmp_path, model=model)
    callback_list = keras.callbacks.CallbackList([callback])  # e.g. an evaluation-only loop
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0)
    assert callback.model is None and callback.explainer.model is model
    assert callback.last_explanation.heatmaps.shape == (2, SIZE, SIZE)

    orphan = keras.callbacks.CallbackList([GradCAMCallback(images, log_dir=tmp_path)])
    with pytest.raises(ValueError, match=re.escape("GradCAMCallback has no model")):
        orphan.on_train_begin()


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_ensemble_trains_and_logs_float32_finite_heatmaps(tmp_path, policy):
    from keras_cxr.layers import compact_cnn

    keras.config.set_dtype_policy(policy)
    try:
        branches = [
            compact_cnn((SIZE, SIZE, 3), width=4, stages=2, first_kernel=k, name=f"b{k}")
            for k in (3, 5)
        ]
        model = keras_cxr.StackedEnsemble(
            backbones=branches, input_shape=(SIZE, SIZE, 3), weights=None, head_units=(4,)
        )
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("head_dense_1").compute_dtype != "float32"  # it is mixed
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    images, labels = data(8)
    callback = GradCAMCallback(images[:3], log_dir=tmp_path)
    history = model.fit(images, labels, epochs=2, verbose=0, callbacks=[callback])

    assert np.isfinite(history.history["loss"]).all()
    explanation = callback.last_explanation
    assert explanation.heatmaps.dtype == np.float32 and explanation.scores.dtype == np.float32
    assert np.isfinite(explanation.heatmaps).all()
    assert explanation.heatmaps.min() >= 0.0 and explanation.heatmaps.max() <= 1.0
    assert len(callback.explainer.target_layers) == 2  # one map per branch
    predicted = model.predict(images[:3], verbose=0)
    assert predicted.dtype == np.float32
    np.testing.assert_allclose(explanation.predictions, predicted, atol=1e-2)
    assert {"epoch_001.png", "epoch_002.png"} <= set(files(tmp_path))
