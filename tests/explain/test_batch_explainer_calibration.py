"""`BatchExplainer` with a temperature: the probability and the decision are calibrated."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_cxr.explain import BatchExplainer
from keras_cxr.models import save_model

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def mean_pixel_model() -> keras.Model:
    """The logit is the mean pixel: 1x1 conv, average pool and dense, all with unit weights."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(1, 1, kernel_initializer="ones", use_bias=False, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(1, kernel_initializer="ones", name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(x))


def test_batch_explainer_decides_on_the_calibrated_probability(tmp_path):
    # Images of constant 0.4 (as float pixels) give the logit 0.4.
    images = np.full((2, 8, 8, 1), 0.4, np.float32)
    metadata = {"threshold": 0.55, "temperature": 0.5}
    path = save_model(mean_pixel_model(), tmp_path / "model.keras", metadata)
    explainer = BatchExplainer(path, "gradcam", "conv", warm_up=False)
    assert explainer.temperature == 0.5
    out = explainer({"image": images})
    calibrated = 1 / (1 + np.exp(-0.4 / 0.5))  # 0.69, above the threshold; 0.599 at T = 1
    np.testing.assert_allclose(out["probability"], calibrated, rtol=1e-5)
    assert out["decision"].tolist() == [1, 1]
    # An explicit temperature wins, and a file without one keeps the raw probability.
    plain = BatchExplainer(path, "gradcam", "conv", temperature=1.0, warm_up=False)
    np.testing.assert_allclose(
        plain({"image": images})["probability"], 1 / (1 + np.exp(-0.4)), rtol=1e-5
    )
    old = save_model(mean_pixel_model(), tmp_path / "old.keras", {"threshold": 0.55})
    assert BatchExplainer(old, "gradcam", "conv", warm_up=False).temperature == 1.0
