"""`keras_cxr.models.model_fingerprint`: the same model hashes alike, saved or not."""

from __future__ import annotations

import hashlib
import json

import keras
import numpy as np

import keras_cxr
from keras_cxr.models import model_fingerprint, save_model


def _model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(x))


def test_the_digest_covers_config_and_every_variable():
    model = _model()
    digest = hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=repr).encode())
    for variable in model.weights:
        value = np.asarray(variable)
        digest.update(f"{variable.path}|{value.shape}|{value.dtype}".encode())
        digest.update(value.tobytes())
    assert model_fingerprint(model) == digest.hexdigest()[:16]


def test_a_saved_and_reloaded_model_keeps_its_fingerprint(tmp_path):
    model = _model()
    path = save_model(model, tmp_path / "m.keras", {"threshold": 0.4})
    again = save_model(model, tmp_path / "copy.keras")
    fingerprints = {
        model_fingerprint(model),
        model_fingerprint(keras_cxr.load_model(path, compile=False)),
        model_fingerprint(keras_cxr.load_model(again, compile=False)),
    }
    assert len(fingerprints) == 1


def test_other_weights_or_statistics_change_it():
    model = _model()
    before = model_fingerprint(model)
    assert model_fingerprint(_model(seed=1)) != before
    bn = model.get_layer("bn")
    bn.moving_mean.assign(bn.moving_mean + 1.0)  # a non-trainable variable counts too
    assert model_fingerprint(model) != before
