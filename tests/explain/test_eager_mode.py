"""Every explainer runs under `tf.config.run_functions_eagerly(True)`, as users debugging a
model do, and gives what its compiled run gives (TensorFlow only: the switch is TF's)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_cxr.explain import METHODS, get_method

from .models import tiny_cnn, toy_vit, with_random_weights

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="run_functions_eagerly is TensorFlow's"
)

IMAGES = np.random.default_rng(3).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
#: Methods that draw random numbers (SmoothGrad's noise, LIME's samples) are seeded per
#: call; the rest are deterministic. A 4-px occlusion patch, so the map is not constant.
SETTINGS = {"lime": {"num_samples": 64}, "occlusion": {"patch": 4}}
#: SHAP's model calls go through the same compiled batch function as LIME's and
#: Occlusion's (`BaseAttribution`); the shap library's own set-up costs ~17 s here.
LEFT_OUT = {"shap"}


@pytest.fixture(scope="module")
def cnn():
    return with_random_weights(tiny_cnn((16, 16, 3)), seed=4, scale=0.2)


@pytest.fixture(scope="module")
def vit():
    return toy_vit()  # 16-px images too


@pytest.mark.parametrize("name", sorted(set(METHODS) - LEFT_OUT))
def test_eager_run_equals_the_compiled_run(cnn, vit, name):
    import tensorflow as tf

    model = vit if name.startswith("attention") else cnn
    make = lambda: get_method(name)(model, **SETTINGS.get(name, {}))  # noqa: E731
    keras.utils.set_random_seed(0)
    compiled = make().explain(IMAGES).heatmaps
    tf.config.run_functions_eagerly(True)
    try:
        keras.utils.set_random_seed(0)
        eager = make().explain(IMAGES).heatmaps
    finally:
        tf.config.run_functions_eagerly(False)
    np.testing.assert_allclose(eager, compiled, atol=1e-4)
    assert compiled.max() > 0, "the comparison must not be zeros against zeros"
