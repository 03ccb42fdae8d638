"""`keras_cxr.models.save_model` / `read_metadata`: metadata inside the `.keras` file."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_cxr.models.metadata import decision_threshold, read_metadata, save_model

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def small_model() -> keras.Model:
    """A one-layer model: what is saved matters less here than the file around it."""
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])


def test_saved_model_carries_metadata_and_still_loads_in_safe_mode(tmp_path):
    model = small_model()
    path = save_model(model, tmp_path / "model.keras", {"threshold": np.float64(0.42)})
    assert read_metadata(path) == {"threshold": 0.42}
    loaded = keras.models.load_model(path, safe_mode=True)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_metadata_of_a_plain_keras_file_is_empty(tmp_path):
    model = small_model()
    model.save(tmp_path / "plain.keras")
    assert read_metadata(tmp_path / "plain.keras") == {}


def test_model_file_must_end_in_keras(tmp_path):
    with pytest.raises(ValueError, match=r"\.keras"):
        save_model(small_model(), tmp_path / "model.h5")


# ----------------------------------------------------------------- callbacks


@pytest.mark.parametrize(
    ("threshold", "metadata", "expected"),
    [
        (0.3, {"threshold": 0.42}, (0.3, "argument")),  # the caller's choice wins
        (0.0, {"threshold": 0.42}, (0.0, "argument")),  # 0 is a choice, not "none given"
        (None, {"threshold": 0.42}, (0.42, "model file")),
        (None, {"threshold": 0.0}, (0.0, "model file")),  # a stored 0 is kept too
        (None, {"threshold": None, "decision": "argmax"}, (0.5, "default")),
        (None, {}, (0.5, "default")),
    ],
)
def test_decision_threshold_prefers_the_argument_then_the_file(threshold, metadata, expected):
    assert decision_threshold(threshold, metadata) == expected


def test_decision_threshold_reads_a_saved_file(tmp_path):
    path = save_model(small_model(), tmp_path / "model.keras", {"threshold": 0.37})
    assert decision_threshold(None, read_metadata(path)) == (0.37, "model file")


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_decision_threshold_refuses_a_threshold_outside_zero_one(bad):
    with pytest.raises(ValueError, match=r"argument `threshold`. Expected a float in \[0, 1\]"):
        decision_threshold(bad, {"threshold": 0.4})
