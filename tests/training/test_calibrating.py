"""`keras_cxr.training.calibrating`: temperature and threshold fitted on validation logits."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_cxr.metrics import (
    expected_calibration_error,
    fit_temperature,
    select_threshold,
    sensitivity,
    specificity,
    top_label_calibration_error,
)
from keras_cxr.models import apply_temperature, read_metadata, save_model, stored_temperature
from keras_cxr.training.calibrating import (
    calibrate_multiclass_on_validation,
    calibrate_on_validation,
)

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def over_confident(n=3000, factor=3.0, seed=0):
    """Labels drawn from a calibrated model's probabilities, and its logits times `factor`."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return labels, factor * logits


def test_temperature_is_fitted_and_the_threshold_chosen_on_calibrated_probabilities():
    labels, logits = over_confident()
    calibration = calibrate_on_validation(labels, logits[:, None], "sensitivity:0.95")
    assert calibration.temperature == pytest.approx(3.0, rel=0.05)
    assert calibration.temperature == pytest.approx(fit_temperature(labels, logits))
    calibrated = apply_temperature(logits, calibration.temperature)
    np.testing.assert_allclose(calibration.probabilities, calibrated)
    assert calibration.threshold == select_threshold(labels, calibrated, "sensitivity:0.95")
    assert sensitivity(labels, calibrated, calibration.threshold) >= 0.95
    assert calibration.ece_after < calibration.ece_before / 2
    assert calibration.ece_before == pytest.approx(
        expected_calibration_error(labels, apply_temperature(logits))
    )
    assert calibration.nll_after < calibration.nll_before
    metadata = calibration.metadata()
    assert metadata["operating_point"] == "sensitivity:0.95"
    assert metadata["temperature"] == calibration.temperature
    assert metadata["threshold"] == calibration.threshold
    assert metadata["calibration"]["split"] == "validation"


def test_without_calibration_the_temperature_is_one():
    labels, logits = over_confident()
    calibration = calibrate_on_validation(labels, logits, "specificity:0.9", calibrate=False)
    assert calibration.temperature == 1.0
    probabilities = apply_temperature(logits)
    assert calibration.threshold == select_threshold(labels, probabilities, "specificity:0.9")
    assert specificity(labels, probabilities, calibration.threshold) >= 0.9
    assert calibration.ece_after == calibration.ece_before


def test_two_unit_softmax_logits_of_a_binary_model():
    labels, logits = over_confident(factor=2.0)
    # Softmax over [0, z] is the sigmoid of z: the same temperature and threshold.
    pairs = np.stack([np.zeros_like(logits), logits], axis=1)
    softmax = calibrate_on_validation(labels, pairs)
    sigmoid = calibrate_on_validation(labels, logits)
    assert softmax.temperature == pytest.approx(sigmoid.temperature, rel=1e-5)
    np.testing.assert_allclose(softmax.probabilities, sigmoid.probabilities, rtol=1e-5)


def test_a_bad_operating_point_fails_before_fitting():
    with pytest.raises(ValueError, match="argument `operating_point`"):
        calibrate_on_validation([0, 1], [0.0, 1.0], "sensitivity:95")


def sigmoid_model() -> keras.Model:
    """Image → one logit → sigmoid, ending in an `Activation` layer like a StackedEnsemble."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(1, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(x))


def test_metadata_roundtrip_and_files_without_a_temperature(tmp_path):
    labels, logits = over_confident(n=200)
    metadata = calibrate_on_validation(labels, logits).metadata()
    path = save_model(sigmoid_model(), tmp_path / "model.keras", metadata)
    stored = read_metadata(path)
    assert stored["temperature"] == pytest.approx(metadata["temperature"])
    assert stored_temperature(stored) == pytest.approx(metadata["temperature"])
    assert stored["operating_point"] == "youden"
    old = save_model(sigmoid_model(), tmp_path / "old.keras", {"threshold": 0.4})
    assert stored_temperature(read_metadata(old)) == 1.0


def over_confident_three_class(n=3000, factor=2.5, seed=0):
    """Labels drawn from a calibrated softmax over 3 classes, and its logits times `factor`."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, (n, 3))
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = exp / exp.sum(axis=1, keepdims=True)
    labels = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1).astype(np.int64)
    return labels, factor * logits


def _softmax(z):
    exp = np.exp(z - z.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_three_class_temperature_is_fitted_on_the_softmax_logits():
    labels, logits = over_confident_three_class()
    calibration = calibrate_multiclass_on_validation(labels, logits)
    assert calibration.temperature == pytest.approx(2.5, rel=0.08)
    assert calibration.temperature == pytest.approx(fit_temperature(labels, logits))
    calibrated = _softmax(logits / calibration.temperature)
    np.testing.assert_allclose(calibration.probabilities, calibrated, rtol=1e-10)
    assert calibration.ece_before == pytest.approx(
        top_label_calibration_error(labels, _softmax(logits))
    )
    assert calibration.ece_after == pytest.approx(top_label_calibration_error(labels, calibrated))
    assert calibration.ece_after < calibration.ece_before / 2
    assert calibration.nll_after < calibration.nll_before
    metadata = calibration.metadata()
    assert (metadata["threshold"], metadata["operating_point"]) == (None, "argmax")
    assert metadata["temperature"] == calibration.temperature
    assert metadata["calibration"]["ece_after"] == calibration.ece_after


def test_three_class_without_calibration_keeps_the_temperature_at_one():
    labels, logits = over_confident_three_class(n=200)
    calibration = calibrate_multiclass_on_validation(labels, logits, calibrate=False)
    assert calibration.temperature == 1.0
    np.testing.assert_allclose(calibration.probabilities, _softmax(logits), rtol=1e-10)
    assert calibration.ece_after == calibration.ece_before
    with pytest.raises(ValueError, match="`logits`"):
        calibrate_multiclass_on_validation(labels, logits[:, 0])
