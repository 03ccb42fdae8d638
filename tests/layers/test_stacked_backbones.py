import keras
import numpy as np
import pytest
from keras.src.utils import file_utils

from keras_cxr import StackedBackbones
from keras_cxr.layers import ImageNetPreprocessing


@pytest.fixture(scope="module")
def pair():
    return StackedBackbones(("mobilenet_v2", "densenet121"), weights=None, input_shape=(32, 32, 3))


def test_features_are_concatenated_in_branch_order(pair):
    assert pair.output.shape == (None, 1280 + 1024)
    assert list(pair.backbones) == ["mobilenet_v2", "densenet121"]
    assert pair.feature_sizes == {"mobilenet_v2": 1280, "densenet121": 1024}
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    features = np.asarray(pair(images))
    mobilenet = pair.backbones["mobilenet_v2"]
    expected = np.asarray(mobilenet(images / 127.5 - 1.0)).mean(axis=(1, 2))
    np.testing.assert_allclose(features[:, :1280], expected, rtol=1e-4, atol=1e-6)


def test_each_branch_gets_its_own_preprocessing(pair):
    modes = {
        layer.name: layer.mode for layer in pair.layers if isinstance(layer, ImageNetPreprocessing)
    }
    assert modes == {"mobilenet_v2_preprocessing": "tf", "densenet121_preprocessing": "torch"}


def test_default_pair_has_2944_features():
    stack = StackedBackbones(weights=None, input_shape=(32, 32, 1))
    assert stack.output.shape == (None, 2944)


@pytest.mark.backends
def test_grayscale_input_equals_rgb_tiled_input():
    gray = StackedBackbones(("mobilenet_v2",), weights=None, input_shape=(32, 32, 1))
    rgb = StackedBackbones(("mobilenet_v2",), weights=None, input_shape=(32, 32, 3))
    rgb.set_weights(gray.get_weights())
    images = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(
        gray.predict(images, verbose=0),
        rgb.predict(np.repeat(images, 3, -1), verbose=0),
        rtol=1e-5,
        atol=1e-7,
    )


@pytest.mark.backends
def test_frozen_by_default_and_unfreeze_keeps_batchnorm_frozen():
    stack = StackedBackbones(("mobilenet_v2",), weights=None, input_shape=(32, 32, 3))
    assert stack.trainable_weights == []
    stack.unfreeze(10)
    net = stack.backbones["mobilenet_v2"]
    trainable_layers = [layer for layer in net.layers if layer.trainable_weights]
    assert trainable_layers, "the last layers should train"
    assert all(net.layers.index(layer) >= len(net.layers) - 10 for layer in trainable_layers)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable_layers)
    assert stack.get_config()["fine_tune_last"] == 10


@pytest.mark.backends
def test_unfrozen_batchnorm_statistics_do_not_move_in_training():
    stack = StackedBackbones(("mobilenet_v2",), weights=None, input_shape=(32, 32, 3))
    stack.unfreeze()
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(1)(stack(inputs)))
    model.compile("sgd", "mse")
    bn = next(
        layer
        for layer in stack.backbones["mobilenet_v2"].layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    before = np.asarray(bn.moving_mean).copy()
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    model.fit(x, np.ones((4, 1)), epochs=1, verbose=0)
    np.testing.assert_array_equal(np.asarray(bn.moving_mean), before)
    trained = {id(v) for v in model.trainable_weights}
    assert id(stack.backbones["mobilenet_v2"].layers[1].kernel) in trained
    assert id(bn.gamma) not in trained


@pytest.mark.backends
def test_user_model_backbone_is_accepted_and_serialized():
    inputs = keras.Input((32, 32, 3))
    net = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(inputs), name="tiny")
    stack = StackedBackbones([net, "mobilenet_v2"], weights=None, input_shape=(32, 32, 3))
    assert stack.output.shape == (None, 4 + 1280)
    clone = StackedBackbones.from_config(stack.get_config())
    assert list(clone.backbones) == ["tiny", "mobilenet_v2"]


@pytest.mark.backends
def test_weights_dict_and_whole_layer_file(tmp_path):
    # A compact CNN: the files take the same path for every backbone, at a fraction of
    # MobileNetV2's cost, and its random kernels differ between builds.
    source = StackedBackbones(("cnn_3x3",), weights=None, input_shape=(32, 32, 3))
    backbone_file = tmp_path / "cnn_3x3.weights.h5"
    source.backbones["cnn_3x3"].save_weights(backbone_file)
    whole_file = tmp_path / "stack.weights.h5"
    source.save_weights(whole_file)
    for weights in ({"cnn_3x3": backbone_file}, whole_file):
        loaded = StackedBackbones(("cnn_3x3",), weights=weights, input_shape=(32, 32, 3))
        for a, b in zip(source.get_weights(), loaded.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.backends
def test_from_config_never_downloads(monkeypatch):
    def offline(*args, **kwargs):
        raise AssertionError("from_config must not download weights")

    monkeypatch.setattr(file_utils, "get_file", offline)
    config = {"backbones": ["mobilenet_v2"], "input_shape": [32, 32, 3], "name": "s"}
    assert StackedBackbones.from_config(config).name == "s"
    with pytest.raises(ValueError, match="weights come from the saved file"):
        StackedBackbones.from_config({**config, "weights": "imagenet"})


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"backbones": ("vgg16",)}, "backbones"),
        ({"backbones": ()}, "backbones"),
        ({"backbones": ("mobilenet_v2", "mobilenet_v2")}, "backbones"),
        ({"input_shape": (32, 32, 2)}, "input_shape"),
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"pooling": "sum"}, "pooling"),
        ({"fine_tune_last": -1}, "fine_tune_last"),
        ({"weights": "/no/such/file.h5"}, "weights"),
        ({"weights": {"densenet121": None}}, "weights"),
    ],
)
@pytest.mark.backends
def test_invalid_arguments_are_rejected_keras_style(kwargs, argument):
    arguments = {"backbones": ("mobilenet_v2",), "weights": None, "input_shape": (32, 32, 3)}
    with pytest.raises(
        ValueError,
        match=rf"Invalid value received for argument `{argument}`.*Received: {argument}=",
    ):
        StackedBackbones(**{**arguments, **kwargs})


@pytest.mark.backends
def test_trainable_batchnorm_is_kept_in_the_config_and_after_reload(tmp_path):
    stack = StackedBackbones(
        backbones=["cnn_3x3"],
        weights=None,
        input_shape=(32, 32, 3),
        trainable=True,
        trainable_batchnorm=True,
    )
    batchnorm = [
        layer
        for layer in stack.backbones["cnn_3x3"].layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert batchnorm and all(layer.trainable for layer in batchnorm)
    revived = StackedBackbones.from_config(stack.get_config())
    assert revived.trainable_batchnorm
    assert all(
        layer.trainable
        for layer in revived.backbones["cnn_3x3"].layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    # The default keeps BatchNorm frozen even when the backbone trains.
    frozen = StackedBackbones(
        backbones=["cnn_3x3"], weights=None, input_shape=(32, 32, 3), trainable=True
    )
    assert not any(
        layer.trainable
        for layer in frozen.backbones["cnn_3x3"].layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


@pytest.mark.backends
def test_compact_backbones_are_built_by_name_and_have_no_imagenet_weights():
    stack = StackedBackbones(
        backbones=["cnn_3x3", "cnn_7x7"], weights=None, input_shape=(32, 32, 3)
    )
    assert stack.feature_sizes == {"cnn_3x3": 64, "cnn_7x7": 64}
    assert stack.get_config()["backbones"] == ["cnn_3x3", "cnn_7x7"]  # by name, not by graph
    with pytest.raises(ValueError, match="`cnn_3x3`, which has no ImageNet weights"):
        StackedBackbones(backbones=["cnn_3x3"], weights="imagenet", input_shape=(32, 32, 3))
