"""`keras_cxr.models.temperature`: logits ↔ probabilities at a temperature, stored T."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from keras_cxr.models import (
    apply_temperature,
    calibrated_probabilities,
    logits_from_probabilities,
    stored_temperature,
)

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

LOGITS = arrays(np.float64, st.integers(1, 20), elements=st.floats(-20, 20))


@settings(max_examples=50, deadline=None)
@given(LOGITS, st.floats(0.1, 10))
def test_sigmoid_at_a_temperature_is_the_textbook_formula(logits, temperature):
    expected = 1 / (1 + np.exp(-logits / temperature))
    np.testing.assert_allclose(apply_temperature(logits, temperature), expected, rtol=1e-12)
    column = apply_temperature(logits[:, None], temperature)
    np.testing.assert_allclose(column[:, 0], expected, rtol=1e-12)


def test_softmax_at_a_temperature_divides_the_logits():
    logits = np.array([[1.0, 2.0, 4.0], [1000.0, 0.0, -1000.0]])
    expected = np.exp(logits[0] / 2) / np.exp(logits[0] / 2).sum()
    result = apply_temperature(logits, 2.0)
    np.testing.assert_allclose(result[0], expected)
    np.testing.assert_allclose(result[1], [1.0, 0.0, 0.0], atol=1e-200)  # no overflow
    np.testing.assert_allclose(result.sum(axis=1), 1.0)


def test_temperature_never_changes_the_order_of_the_scores():
    logits = np.array([-3.0, -0.5, 0.1, 2.0, 7.0])
    for temperature in (0.3, 1.0, 4.0):
        assert np.all(np.diff(apply_temperature(logits, temperature)) > 0)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.integers(1, 20), elements=st.floats(-15, 15)))
def test_logits_from_probabilities_inverts_the_sigmoid(logits):
    recovered = logits_from_probabilities(apply_temperature(logits))
    np.testing.assert_allclose(recovered, logits, atol=1e-6)


def test_softmax_logits_are_recovered_up_to_a_constant_per_row():
    logits = np.array([[0.5, 1.0, -2.0]])
    recovered = logits_from_probabilities(apply_temperature(logits))
    np.testing.assert_allclose(recovered - recovered[:, :1], logits - logits[:, :1])
    np.testing.assert_allclose(
        calibrated_probabilities(apply_temperature(logits), 3.0), apply_temperature(logits, 3.0)
    )


def test_saturated_probabilities_give_finite_logits():
    assert np.all(np.isfinite(logits_from_probabilities([0.0, 1.0])))


def test_files_without_a_temperature_read_as_one():
    assert stored_temperature({}) == 1.0
    assert stored_temperature({"threshold": 0.3, "temperature": None}) == 1.0
    assert stored_temperature({"temperature": 2.5}) == 2.5
    with pytest.raises(ValueError, match=re.escape("Expected a finite number > 0")):
        stored_temperature({"temperature": -1})


def test_bad_logits_are_refused():
    with pytest.raises(ValueError, match=re.escape("Received: logits.shape=(2, 2, 2)")):
        apply_temperature(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="finite values"):
        apply_temperature([np.inf])
