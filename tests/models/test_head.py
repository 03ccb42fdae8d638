"""`keras_cxr.models.HeadModel` and the feature/head split of a `StackedEnsemble`."""

from __future__ import annotations

import tempfile

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr._keras_internals import inbound_operations
from keras_cxr.models import HeadModel, head_layers
from keras_cxr.training import extract_features

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

SIZE = 32


def test_head_model_shares_the_ensemble_layers_without_new_graph_nodes(
    two_branch_ensemble, tiny_images
):
    nodes = len(inbound_operations(two_branch_ensemble.get_layer("head_dense_1")))
    config_before = two_branch_ensemble.to_json()
    head = HeadModel(two_branch_ensemble)
    features = extract_features(two_branch_ensemble, tiny_images)[0]
    np.testing.assert_allclose(
        head.predict(features, verbose=0),
        two_branch_ensemble.predict(tiny_images.astype("float32"), verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    # Same variables: the head's trainable variables are the two_branch_ensemble's head variables.
    head_variables = {id(v) for v in head.trainable_variables}
    ensemble_head = {
        id(v)
        for name in ("head_dense_1", "logits")
        for v in two_branch_ensemble.get_layer(name).weights
    }
    assert ensemble_head <= head_variables
    # Training the head changes the two_branch_ensemble's predictions, with nothing copied.
    before = two_branch_ensemble.predict(tiny_images.astype("float32"), verbose=0)
    head.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    head.fit(features, (np.arange(len(tiny_images)) % 2).astype("float32"), epochs=2, verbose=0)
    after = two_branch_ensemble.predict(tiny_images.astype("float32"), verbose=0)
    assert np.abs(after - before).max() > 1e-4
    np.testing.assert_allclose(after, head.predict(features, verbose=0), rtol=1e-5, atol=1e-6)
    # Called on tensors only: the two_branch_ensemble's graph, which explainers walk, is unchanged.
    assert len(inbound_operations(two_branch_ensemble.get_layer("head_dense_1"))) == nodes
    assert two_branch_ensemble.to_json() == config_before


def test_head_model_weights_round_trip_into_another_ensemble(two_branch_ensemble, tiny_images):
    head = HeadModel(two_branch_ensemble)
    other = keras_cxr.StackedEnsemble.from_config(two_branch_ensemble.get_config())
    other_head = HeadModel(other)
    with tempfile.TemporaryDirectory() as folder:
        head.save_weights(f"{folder}/head.weights.h5")
        other_head.load_weights(f"{folder}/head.weights.h5")
    features = extract_features(two_branch_ensemble, tiny_images)[0]
    np.testing.assert_allclose(
        other_head.predict(features, verbose=0), head.predict(features, verbose=0), atol=1e-6
    )


def test_head_layers_refuse_models_without_stacked_backbones():
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    with pytest.raises(ValueError, match="StackedEnsemble"):
        head_layers(plain)
