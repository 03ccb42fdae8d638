"""Temperature and threshold from the sites' logits equal those fitted on pooled logits."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cxr.federated import calibrate_across_sites
from keras_cxr.metrics import classification_report
from keras_cxr.metrics.temperature_scaling import fit_temperature
from keras_cxr.metrics.threshold_selection import select_threshold


def _site(rng, n, shift):
    labels = rng.integers(0, 2, n)
    logits = 3.0 * (labels - 0.5) + shift + rng.normal(0, 2.0, n)
    return labels, logits


def test_equals_a_fit_on_the_pooled_logits():
    rng = np.random.default_rng(0)
    sites = {"a": _site(rng, 80, 0.5), "b": _site(rng, 50, -1.0), "c": _site(rng, 30, 0.0)}
    calibration, per_site = calibrate_across_sites(sites, "youden")
    labels = np.concatenate([y for y, _ in sites.values()])
    logits = np.concatenate([z for _, z in sites.values()])
    # The reference: the metrics functions on the pooled arrays, step by step.
    temperature = fit_temperature(labels, logits)
    probabilities = 1.0 / (1.0 + np.exp(-logits / temperature))
    assert calibration.temperature == pytest.approx(temperature)
    assert calibration.threshold == pytest.approx(select_threshold(labels, probabilities, "youden"))
    np.testing.assert_allclose(calibration.probabilities, probabilities, rtol=1e-9)
    y, z = sites["b"]
    expected = classification_report(
        y, 1.0 / (1.0 + np.exp(-z / temperature)), calibration.threshold
    )
    assert per_site["b"]["confusion_matrix"] == expected["confusion_matrix"]
    for key in ("accuracy", "roc_auc", "ece", "threshold"):
        assert per_site["b"][key] == pytest.approx(expected[key])


def test_without_calibration_the_temperature_is_one():
    rng = np.random.default_rng(1)
    calibration, _ = calibrate_across_sites({"a": _site(rng, 40, 0.0)}, calibrate=False)
    assert calibration.temperature == 1.0


def test_one_class_or_no_site_is_refused():
    with pytest.raises(ValueError, match="hold one class; the threshold needs both"):
        calibrate_across_sites({"a": (np.zeros(3), np.zeros(3)), "b": (np.zeros(2), np.ones(2))})
    with pytest.raises(ValueError, match="at least one site"):
        calibrate_across_sites({})
