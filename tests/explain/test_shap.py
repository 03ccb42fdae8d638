"""SHAP through `shap`'s Partition explainer: exact on a linear model, additive on a CNN."""

import importlib.util
import sys

import keras
import numpy as np
import pytest

from keras_cxr.explain import SHAP

from .models import tiny_cnn, with_random_weights

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

needs_shap = pytest.mark.skipif(
    importlib.util.find_spec("shap") is None,
    reason="shap is not installed (pip install 'keras_cxr[shap]')",
)

SHAPE = (3, 4, 2)


def linear_model(weights):
    inputs = keras.Input(SHAPE)
    dense = keras.layers.Dense(1, name="logits")
    x = dense(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(x))
    dense.set_weights([weights.reshape(-1, 1), np.array([0.3], "float32")])
    return model


@needs_shap
@pytest.mark.parametrize(("class_index", "sign"), [(1, 1.0), (0, -1.0)])
def test_a_linear_model_gets_exact_values_once_every_pixel_is_split_off(class_index, sign):
    # An additive score's Owen values are each feature's own term, (x_i − masked_i)·w_i;
    # 1000 evaluations refine the partition tree of 24 features down to single ones.
    weights = np.random.default_rng(1).normal(size=SHAPE).astype("float32")
    images = np.random.default_rng(2).uniform(0, 2, (2, *SHAPE)).astype("float32")
    explainer = SHAP(linear_model(weights), masker=0.5, max_evals=1000)
    explanation = explainer.explain(images, class_index=class_index)
    expected = sign * ((images - 0.5) * weights).sum(axis=-1)
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(explanation.completeness_gap, 0.0, atol=1e-5)
    assert explanation.method == "shap" and explanation.display == "positive"


@needs_shap
def test_values_add_up_to_the_change_from_the_masked_image():
    model = with_random_weights(tiny_cnn(input_shape=(8, 8, 3)), seed=4, scale=0.3)
    images = np.random.default_rng(3).uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    explanation = SHAP(model, masker=0.0, max_evals=60, score="probability").explain(images, 1)
    masked = np.asarray(model.predict(np.zeros_like(images), verbose=0))[:, 0]
    change = np.asarray(model.predict(images, verbose=0))[:, 0] - masked
    np.testing.assert_allclose(explanation.attributions.sum(axis=(1, 2)), change, atol=1e-5)
    blurred = SHAP(model, max_evals=60).explain(images, class_index=0)
    np.testing.assert_allclose(blurred.completeness_gap, 0.0, atol=1e-4)


def test_a_missing_shap_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "shap", None)  # `import shap` now raises ImportError
    explainer = SHAP(tiny_cnn())
    with pytest.raises(ImportError, match=r"pip install 'keras_cxr\[shap\]'"):
        explainer.explain(np.zeros((1, 16, 16, 3)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"masker": "noise"}, r"argument `masker`. Expected one of \('blur', 'inpaint_telea'"),
        ({"masker": float("inf")}, r"argument `masker`.*Received: masker=inf"),
        ({"masker": True}, r"argument `masker`"),
        ({"max_evals": 2}, r"argument `max_evals`. Expected an integer >= 3"),
        ({"internal_batch_size": 0}, r"argument `internal_batch_size`"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SHAP(tiny_cnn(), **kwargs)


@needs_shap
def test_each_image_is_masked_with_its_own_blur(monkeypatch):
    # shap's Image masker caches the blurred image keyed by `id(row)`, and CPython reuses
    # the ids of freed arrays: every id made equal here, the second image would be masked
    # with the first one's blur unless the explainer clears the cache per image.
    import shap.maskers._image as image_masker

    model = with_random_weights(tiny_cnn(), seed=0, scale=0.3)
    images = np.random.default_rng(5).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    alone = SHAP(model, max_evals=20).explain(images[1:], class_index=1).attributions
    monkeypatch.setattr(image_masker, "id", lambda row: 0, raising=False)
    both = SHAP(model, max_evals=20).explain(images, class_index=1).attributions
    np.testing.assert_allclose(both[1], alone[0], rtol=1e-4, atol=1e-6)
    assert np.abs(alone).max() > 0  # a comparison of zeros would prove nothing
