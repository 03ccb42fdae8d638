"""Tests for keras_cxr.metrics.temperature_scaling: the fitted T against known ones."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.metrics import expected_calibration_error, fit_temperature, negative_log_likelihood
from keras_cxr.models import apply_temperature

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def calibrated_binary(n, seed, spread=2.0):
    """Logits of a calibrated model and labels drawn from its probabilities."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, spread, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(int)
    return labels, logits


def calibrated_softmax(n, classes, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, (n, classes))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=p) for p in probabilities])
    return labels, logits


@pytest.mark.parametrize("factor", [0.5, 3.0])
def test_fit_recovers_the_factor_a_calibrated_models_logits_were_scaled_by(factor):
    labels, logits = calibrated_binary(20000, seed=1)
    assert fit_temperature(labels, factor * logits) == pytest.approx(factor, rel=0.05)
    # An (N, 1) column is the same sigmoid unit.
    column = fit_temperature(labels, factor * logits[:, None])
    assert column == pytest.approx(fit_temperature(labels, factor * logits))


def test_fit_recovers_the_factor_of_a_three_class_softmax():
    labels, logits = calibrated_softmax(6000, 3, seed=2)
    assert fit_temperature(labels, 2.5 * logits) == pytest.approx(2.5, rel=0.05)


def test_fitted_temperature_minimises_the_nll_against_a_grid():
    labels, logits = calibrated_binary(3000, seed=3)
    fitted = fit_temperature(labels, 2 * logits)
    grid = np.exp(np.linspace(np.log(0.2), np.log(20), 2001))
    best_on_grid = min(grid, key=lambda t: negative_log_likelihood(labels, 2 * logits, t))
    assert fitted == pytest.approx(best_on_grid, rel=0.01)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.floats(0.2, 5.0),
    st.integers(5, 200),
)
def test_nll_at_the_fitted_temperature_is_at_most_the_nll_at_one(seed, factor, n):
    labels, logits = calibrated_binary(n, seed)
    fitted = fit_temperature(labels, factor * logits)
    assert negative_log_likelihood(labels, factor * logits, fitted) <= (
        negative_log_likelihood(labels, factor * logits) + 1e-12
    )


def test_temperature_scaling_lowers_the_ece_of_an_over_confident_model():
    labels, logits = calibrated_binary(5000, seed=4)
    over_confident = 4 * logits
    fitted = fit_temperature(labels, over_confident)
    before = expected_calibration_error(labels, apply_temperature(over_confident))
    after = expected_calibration_error(labels, apply_temperature(over_confident, fitted))
    assert after < before / 3
    assert after < 0.03  # what sampling noise leaves with 5,000 cases in 10 bins


def test_nll_against_a_hand_computed_value():
    # -[log σ(2) + log(1 - σ(-1)) ... ] at T = 2: logits halved to 1 and -0.5.
    labels, logits = np.array([1, 0]), np.array([2.0, -1.0])
    expected = -(np.log(1 / (1 + np.exp(-1.0))) + np.log(1 - 1 / (1 + np.exp(0.5)))) / 2
    assert negative_log_likelihood(labels, logits, 2.0) == pytest.approx(expected)
    softmax_logits = np.array([[0.0, 2.0, 4.0]])
    p = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    assert negative_log_likelihood([1], softmax_logits, 2.0) == pytest.approx(-np.log(p[1]))


def test_separable_labels_push_the_temperature_to_the_lower_bound():
    assert fit_temperature([0, 0, 1, 1], [-3.0, -1.0, 1.0, 2.0], bounds=(0.1, 10)) == (
        pytest.approx(0.1, rel=1e-5)
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 1], [0.0, np.nan]), "Expected finite values (no NaN or inf)"),
        (([0, 2], [0.0, 1.0]), "Expected binary labels in {0, 1}"),
        (([0, 3], np.zeros((2, 3))), "Expected class indices in 0..2"),
        (([0, 1, 1], [0.0, 1.0]), "Expected one row per label (3)"),
    ],
)
def test_bad_labels_or_logits_are_refused(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_temperature(*args)


@pytest.mark.parametrize("bounds", [(0, 10), (5, 1), "ab"])
def test_bad_bounds_are_refused(bounds):
    with pytest.raises(ValueError, match="Invalid value received for argument `bounds`"):
        fit_temperature([0, 1], [0.0, 1.0], bounds=bounds)


@pytest.mark.parametrize("temperature", [0, -1.0, float("inf"), True])
def test_bad_temperature_is_refused(temperature):
    with pytest.raises(ValueError, match=re.escape("`temperature`. Expected a finite number > 0")):
        negative_log_likelihood([0, 1], [0.0, 1.0], temperature)
