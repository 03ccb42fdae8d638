import keras
import numpy as np
import pytest
from keras.src.utils import file_utils

from keras_cxr.layers import BACKBONES, WeightsUnavailableError
from keras_cxr.layers.backbones import build_backbone, get_spec

#: Built under every backend too; the other applications take minutes to trace under JAX.
ON_EVERY_BACKEND = ("cnn_3x3", "mobilenet_v2")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.backends) if name in ON_EVERY_BACKEND else name
        for name in sorted(BACKBONES)
    ],
)
def test_every_backbone_builds_with_its_feature_size(name):
    spec = get_spec(name)
    side = max(spec.min_size, 32)
    net = build_backbone(name, (side, side, 3), None)
    assert net.name == name
    assert len(net.output.shape) == 4
    assert net.output.shape[-1] == spec.features


@pytest.mark.backends
def test_unknown_backbone_lists_the_registry():
    with pytest.raises(
        ValueError, match=r"argument `backbones`.*densenet169.*Received: backbones='vgg'"
    ):
        get_spec("vgg")


@pytest.mark.backends
def test_too_small_input_is_rejected():
    with pytest.raises(ValueError, match=r"height and width >= 75 for inception_v3"):
        build_backbone("inception_v3", (64, 64, 3), None)


@pytest.mark.backends
def test_offline_imagenet_names_the_backbone_and_the_fix(monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone("mobilenet_v2", (96, 96, 3), "imagenet")
    message = str(info.value)
    assert "`mobilenet_v2`" in message
    assert "weights=None" in message
    assert "name resolution" in message


@pytest.mark.backends
def test_weights_file_is_loaded(tmp_path):
    # Every backbone loads a file through the same `load_weights`; a compact CNN's file
    # saves and loads in a fraction of MobileNetV2's time. Its random kernels differ from
    # one build to the next, so equal weights mean the file was read.
    source = build_backbone("cnn_3x3", (32, 32, 3), None)
    path = tmp_path / "cnn_3x3.weights.h5"
    source.save_weights(path)
    loaded = build_backbone("cnn_3x3", (32, 32, 3), path)
    for a, b in zip(source.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.backends
def test_missing_weights_file_is_rejected(tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(ValueError, match=r"existing file for mobilenet_v2"):
        build_backbone("mobilenet_v2", (32, 32, 3), missing)


@pytest.mark.backends
def test_registry_backbones_are_keras_models():
    assert all(callable(spec.constructor) for spec in BACKBONES.values())
    assert isinstance(build_backbone("mobilenet_v2", (32, 32, 3), None), keras.Model)
