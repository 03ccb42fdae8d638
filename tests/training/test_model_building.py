"""`keras_cxr.training.build_model`: the ensemble a `TrainConfig` describes."""

from __future__ import annotations

import warnings

import keras
import pytest

from keras_cxr.training import TrainConfig, build_model


def _batchnorm(model):
    return [
        layer
        for net in model.backbones.values()
        for layer in net.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def test_from_scratch_recipe_trains_its_batchnorm_and_says_so_in_the_config():
    model = build_model(TrainConfig.recipe("demo", image_size=32, head_units=(4,)))
    assert list(model.backbones) == ["cnn_3x3", "cnn_7x7"]
    assert model.get_config()["backbones"] == ["cnn_3x3", "cnn_7x7"]
    assert model.get_config()["trainable_batchnorm"] is True
    assert all(layer.trainable for layer in _batchnorm(model))
    assert model.get_layer("head_dense_1").units == 4


def test_frozen_backbones_keep_batchnorm_frozen():
    config = TrainConfig.recipe("demo", image_size=32, train_backbones=False)
    model = build_model(config)
    assert model.get_config()["trainable_batchnorm"] is False
    assert not any(layer.trainable for layer in _batchnorm(model))


def test_frozen_random_imagenet_backbones_warn_and_compact_ones_do_not():
    with pytest.warns(UserWarning, match="Frozen backbones with random weights"):
        build_model(
            TrainConfig(backbones=("mobilenet_v2",), image_size=32, weights=None, head_units=(4,))
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_model(
            TrainConfig.recipe("demo", image_size=32, train_backbones=False, head_units=(4,))
        )


def test_unknown_backbone_names_the_known_ones():
    config = TrainConfig.recipe("demo", image_size=32, backbones=("cnn_3x3", "resnet9000"))
    with pytest.raises(ValueError, match=r"argument `backbones`.*'cnn_3x3'.*resnet9000"):
        build_model(config)
