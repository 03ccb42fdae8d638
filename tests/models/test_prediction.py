"""`keras_cxr.models.predict_logits`: the logits before the output activation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_cxr.models import predict_logits, predict_probabilities
from keras_cxr.models.prediction import output_logits_model

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def scaled_mean_model(scale: float, split_activation: bool = True) -> keras.Model:
    """The logit is `scale` times the mean pixel; a separate `Activation` or a built-in one."""
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.initializers.Constant(scale)
    if not split_activation:
        return keras.Model(inputs, keras.layers.Dense(1, "sigmoid", kernel_initializer=dense)(x))
    x = keras.layers.Dense(1, kernel_initializer=dense, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(x))


def test_logits_are_read_before_the_activation_even_where_the_sigmoid_saturates():
    images = np.stack([np.full((4, 4, 1), v, np.float32) for v in (-0.5, 0.1, 1.0)])
    model = scaled_mean_model(40.0)
    np.testing.assert_allclose(predict_logits(model, images)[:, 0], [-20.0, 4.0, 40.0], rtol=1e-5)
    assert predict_probabilities(model, images)[2] == 1.0  # float32: the logit is lost there
    assert output_logits_model(model).output.shape[-1] == 1


def test_a_built_in_activation_falls_back_to_inverting_the_probabilities():
    images = np.stack([np.full((4, 4, 1), v, np.float32) for v in (-0.5, 0.1, 0.5)])
    model = scaled_mean_model(4.0, split_activation=False)
    assert output_logits_model(model) is None
    np.testing.assert_allclose(predict_logits(model, images)[:, 0], [-2.0, 0.4, 2.0], atol=1e-5)


def test_images_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"Expected a batch of shape \(N, 4, 4, 1\)"):
        predict_logits(scaled_mean_model(1.0), np.zeros((2, 3, 3, 1)))


#: Batch counts with partial last batches of every size, more calls than TensorFlow's
#: retracing warning needs (5 traces within 10 calls of one function).
_SIZES = (3, 5, 7, 2, 6, 4, 9, 1)


def test_repeated_predictions_reuse_one_logits_model_and_its_predict_function():
    model = scaled_mean_model(2.0)
    images = np.random.default_rng(0).normal(size=(9, 4, 4, 1)).astype(np.float32)
    predict_logits(model, images[:3], batch_size=4)
    logits_model = output_logits_model(model)
    compiled = logits_model.predict_function
    assert compiled is not None
    for size in _SIZES:
        logits = predict_logits(model, images[:size], batch_size=4)
        np.testing.assert_allclose(logits[:, 0], 2.0 * images[:size].mean(axis=(1, 2, 3)), 1e-5)
    assert output_logits_model(model) is logits_model
    assert logits_model.predict_function is compiled


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function retracing")
def test_predicting_batch_after_batch_triggers_no_tensorflow_retracing_warning(monkeypatch):
    import logging

    from tensorflow.python.eager.polymorphic_function import polymorphic_function

    # A fresh detector: TensorFlow warns at most twice per function and process, so earlier
    # tests must not have used up the warnings this test listens for.
    monkeypatch.setattr(
        polymorphic_function,
        "_frequent_tracing_detector_manager",
        polymorphic_function._FrequentTracingDetectorManager(),
    )
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        model = scaled_mean_model(2.0)
        images = np.zeros((9, 4, 4, 1), np.float32)
        for size in _SIZES:
            predict_logits(model, images[:size], batch_size=4)
    finally:
        logger.removeHandler(handler)
    retracing = [r.getMessage()[:120] for r in records if "retracing" in r.getMessage()]
    assert not retracing, retracing
