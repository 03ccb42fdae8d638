import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_cxr import StackedEnsemble


@pytest.fixture(scope="module")
def small():
    return StackedEnsemble(backbones=("mobilenet_v2",), weights=None, input_shape=(32, 32, 3))


def test_default_architecture_matches_the_seed():
    model = StackedEnsemble(weights=None, input_shape=(32, 32, 3))
    names = [layer.name for layer in model.layers]
    assert names == [
        "image", "stacked_backbones", "head_bn_1", "head_dense_1", "head_dropout_1",
        "head_bn_2", "head_dense_2", "head_dropout_2", "logits", "predictions",
    ]  # fmt: skip
    assert model.get_layer("head_dense_1").units == 256
    assert model.get_layer("head_dense_2").units == 128
    assert model.get_layer("head_dropout_1").rate == 0.5
    assert model.get_layer("predictions").activation.__name__ == "sigmoid"
    assert list(model.backbones) == ["mobilenet_v2", "densenet169"]
    assert model.stacked_backbones.output.shape == (None, 2944)
    assert model.output.shape == (None, 1)


@pytest.mark.backends
def test_softmax_head_for_several_classes():
    model = StackedEnsemble(
        ("mobilenet_v2",), weights=None, input_shape=(32, 32, 3), num_classes=3, head_units=(16,)
    )
    assert model.output.shape == (None, 3)
    assert model.get_layer("predictions").activation.__name__ == "softmax"
    out = model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.backends
def test_only_the_head_trains_by_default(small):
    trainable = {v.path.split("/")[0] for v in small.trainable_weights}
    assert trainable == {"head_bn_1", "head_dense_1", "head_bn_2", "head_dense_2", "logits"}


@pytest.mark.backends
def test_grayscale_ensemble_accepts_one_channel():
    model = StackedEnsemble(
        ("mobilenet_v2",), weights=None, input_shape=(32, 32, 1), head_units=(8,)
    )
    assert model.predict(np.zeros((1, 32, 32, 1), "float32"), verbose=0).shape == (1, 1)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
        ({"head_units": (0,)}, "head_units"),
        ({"dropout": 1.0}, "dropout"),
        ({"input_shape": (32, 32, 4)}, "input_shape"),
        ({"backbones": ("resnet18",)}, "backbones"),
    ],
)
@pytest.mark.backends
def test_invalid_arguments_are_rejected_keras_style(kwargs, argument):
    arguments = {"backbones": ("mobilenet_v2",), "weights": None, "input_shape": (32, 32, 3)}
    with pytest.raises(
        ValueError,
        match=rf"Invalid value received for argument `{argument}`.*Received: {argument}=",
    ):
        StackedEnsemble(**{**arguments, **kwargs})


def test_save_and_load_in_a_fresh_process_in_safe_mode(tmp_path):
    # Two branches of different kinds (a Keras application and a compact CNN, both revived
    # by name) prove what the seed's MobileNetV2 + DenseNet169 would, at 40 % of the cost;
    # the seed's architecture is checked above, EfficientNet-Lite's safe-mode reload in
    # tests/layers/test_efficientnet_lite.py.
    model = StackedEnsemble(
        ("mobilenet_v2", "cnn_3x3"),
        weights=None,
        input_shape=(32, 32, 3),
        fine_tune_last=5,
    )
    model.compile("adam", "binary_crossentropy")
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    model.fit(images, np.array([0, 1, 0, 1]), epochs=1, verbose=0)  # move BN statistics
    path = tmp_path / "ensemble.keras"
    model.save(path)
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent(
        f"""
        import json, numpy as np, keras
        import keras_cxr  # registers the classes; no custom_objects below
        model = keras.models.load_model({str(path)!r})
        images = np.load({str(tmp_path / "images.npy")!r})
        np.save({str(tmp_path / "loaded.npy")!r}, model.predict(images, verbose=0))
        for name, net in model.backbones.items():
            np.savez({str(tmp_path)!r} + f"/{{name}}.npz", *net.get_weights())
        print(json.dumps(model.get_config(), sort_keys=True))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded_config = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded_config == json.loads(json.dumps(model.get_config(), sort_keys=True))
    np.testing.assert_allclose(
        np.load(tmp_path / "loaded.npy"), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6
    )
    for name, net in model.backbones.items():
        saved = np.load(tmp_path / f"{name}.npz")
        for index, weight in enumerate(net.get_weights()):
            np.testing.assert_array_equal(saved[f"arr_{index}"], weight)


@pytest.mark.backends
def test_config_holds_no_weights_or_paths(small):
    config = small.get_config()
    assert "weights" not in config
    assert json.loads(json.dumps(config)) == config
    clone = StackedEnsemble.from_config(config)
    assert clone.count_params() == small.count_params()


@pytest.mark.backends
def test_unfreeze_then_compile_trains_backbone_layers(small):
    model = StackedEnsemble(backbones=("mobilenet_v2",), weights=None, input_shape=(32, 32, 3))
    before = len(model.trainable_weights)
    model.unfreeze(4)
    assert len(model.trainable_weights) > before
    assert isinstance(model, keras.Model)
