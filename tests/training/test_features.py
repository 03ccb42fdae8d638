"""Feature caching pieces and the compact backbone, on tiny models."""

from __future__ import annotations

import tempfile

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.layers import compact_cnn
from keras_cxr.metrics import mc_dropout_predict
from keras_cxr.models import HeadModel, head_layers
from keras_cxr.training import extract_features

SIZE = 32


@pytest.fixture(scope="module")
def ensemble():
    keras.utils.set_random_seed(1)
    branches = [
        compact_cnn((SIZE, SIZE, 3), width=4, stages=3, first_kernel=k, name=f"b{k}")
        for k in (3, 5)
    ]
    model = keras_cxr.StackedEnsemble(
        backbones=branches,
        input_shape=(SIZE, SIZE, 3),
        weights=None,
        head_units=(6,),
        dropout=0.5,
    )
    # Non-trivial BatchNorm statistics in the head, so inference and training modes differ.
    bn = model.get_layer("head_bn_1")
    bn.moving_mean.assign(np.linspace(-1, 1, bn.moving_mean.shape[0]).astype("float32"))
    bn.moving_variance.assign(np.full(bn.moving_variance.shape, 4.0, "float32"))
    return model


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (10, SIZE, SIZE, 3)).astype(np.uint8)


def test_compact_cnn_shape_names_and_argument_checks():
    net = compact_cnn((64, 64, 3), width=8, stages=4, first_kernel=7, name="cnn")
    assert net.output.shape == (None, 4, 4, 64)
    assert all(layer.name.startswith("cnn") or layer.name == "image" for layer in net.layers)
    assert net.get_layer("cnn_stem_conv").kernel.shape == (7, 7, 3, 8)
    with pytest.raises(ValueError, match="`first_kernel`"):
        compact_cnn((64, 64, 3), first_kernel=4)
    with pytest.raises(ValueError, match="`input_shape`"):
        compact_cnn((8, 8, 3), stages=4)


def test_two_compact_branches_are_found_by_gradcam(ensemble, images):
    explanation = keras_cxr.GradCAM(ensemble).explain(images[:2])
    assert [path.split("/")[-2] for path in explanation.layer_heatmaps] == ["b3", "b5"]
    assert explanation.heatmaps.shape == (2, SIZE, SIZE)


def test_view_zero_is_the_backbone_output_and_views_are_reproducible(ensemble, images):
    features = extract_features(ensemble, images, augmented_views=2, batch_size=4, seed=3)
    assert features.shape == (3, 10, 16 + 16)
    direct = ensemble.stacked_backbones.predict(images.astype("float32"), verbose=0)
    np.testing.assert_allclose(features[0], direct, rtol=1e-5, atol=1e-6)
    again = extract_features(ensemble, images, augmented_views=2, batch_size=4, seed=3)
    np.testing.assert_allclose(features, again, rtol=1e-5, atol=1e-6)
    assert not np.allclose(features[1], features[0])


def test_extract_features_checks_its_arguments(ensemble, images):
    with pytest.raises(ValueError, match="`augmented_views`"):
        extract_features(ensemble, images, augmented_views=-1)
    with pytest.raises(ValueError, match="`images`"):
        extract_features(ensemble, images[:, :16])


def test_head_model_shares_the_ensemble_layers_without_new_graph_nodes(ensemble, images):
    nodes = len(ensemble.get_layer("head_dense_1")._inbound_nodes)
    config_before = ensemble.to_json()
    head = HeadModel(ensemble)
    features = extract_features(ensemble, images)[0]
    np.testing.assert_allclose(
        head.predict(features, verbose=0),
        ensemble.predict(images.astype("float32"), verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    # Same variables: the head's trainable variables are the ensemble's head variables.
    head_variables = {id(v) for v in head.trainable_variables}
    ensemble_head = {
        id(v) for name in ("head_dense_1", "logits") for v in ensemble.get_layer(name).weights
    }
    assert ensemble_head <= head_variables
    # Training the head changes the ensemble's predictions, with nothing copied.
    before = ensemble.predict(images.astype("float32"), verbose=0)
    head.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    head.fit(features, (np.arange(len(images)) % 2).astype("float32"), epochs=2, verbose=0)
    after = ensemble.predict(images.astype("float32"), verbose=0)
    assert np.abs(after - before).max() > 1e-4
    np.testing.assert_allclose(after, head.predict(features, verbose=0), rtol=1e-5, atol=1e-6)
    # Called on tensors only: the ensemble's graph, which explainers walk, is unchanged.
    assert len(ensemble.get_layer("head_dense_1")._inbound_nodes) == nodes
    assert ensemble.to_json() == config_before


def test_head_model_weights_round_trip_into_another_ensemble(ensemble, images):
    head = HeadModel(ensemble)
    other = keras_cxr.StackedEnsemble.from_config(ensemble.get_config())
    other_head = HeadModel(other)
    with tempfile.TemporaryDirectory() as folder:
        head.save_weights(f"{folder}/head.weights.h5")
        other_head.load_weights(f"{folder}/head.weights.h5")
    features = extract_features(ensemble, images)[0]
    np.testing.assert_allclose(
        other_head.predict(features, verbose=0), head.predict(features, verbose=0), atol=1e-6
    )


def test_head_layers_refuse_models_without_stacked_backbones():
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    with pytest.raises(ValueError, match="StackedEnsemble"):
        head_layers(plain)


def test_mc_dropout_keeps_batchnorm_in_inference_mode(ensemble, images):
    expected = ensemble.predict(images.astype("float32"), verbose=0)[:, 0]
    no_dropout = keras_cxr.StackedEnsemble.from_config({**ensemble.get_config(), "dropout": 0.0})
    no_dropout.set_weights(ensemble.get_weights())
    draws = mc_dropout_predict(no_dropout, images, samples=3)
    # Without dropout every sample is the deterministic prediction: BatchNorm used its
    # moving statistics (batch statistics would give other values).
    np.testing.assert_allclose(draws, np.broadcast_to(expected, draws.shape), atol=1e-5)
    with_dropout = mc_dropout_predict(ensemble, images, samples=40)
    assert with_dropout.shape == (40, 10)
    assert with_dropout.std(axis=0).min() > 0
    assert np.abs(with_dropout.mean(axis=0) - expected).max() < 0.25


def test_mc_dropout_on_cached_features_matches_images(ensemble, images):
    features = extract_features(ensemble, images)[0]
    keras.utils.set_random_seed(5)
    a = mc_dropout_predict(ensemble, features=features, samples=2)
    assert a.shape == (2, 10)
    with pytest.raises(ValueError, match="exactly one"):
        mc_dropout_predict(ensemble, images, features=features)
    with pytest.raises(ValueError, match="`samples`"):
        mc_dropout_predict(ensemble, images, samples=0)
