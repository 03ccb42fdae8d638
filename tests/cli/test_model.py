"""`keras_cxr.cli._model`: a model file with its decision threshold."""

from __future__ import annotations

import keras
import pytest

from keras_cxr.cli._model import load_model_and_threshold


def test_a_model_without_a_stored_threshold_gets_one_half_with_a_warning(tmp_path):
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten()])
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    path = tmp_path / "plain.keras"
    model.save(path)
    with pytest.warns(UserWarning, match="has no stored decision threshold"):
        _, threshold, source = load_model_and_threshold(path, None)
    assert (threshold, source) == (0.5, "default 0.5")
    assert load_model_and_threshold(path, 0.7)[1:] == (0.7, "--threshold")
