from types import SimpleNamespace

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.layers import BACKBONES, GrayscaleToRGB, ImageNetPreprocessing

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

#: EfficientNet-Lite's TensorFlow builder (efficientnet/lite/efficientnet_lite_builder.py)
#: normalises with MEAN_RGB = [127.0] * 3 and STDDEV_RGB = [128.0] * 3.
EFFICIENTNET_LITE_BUILDER = SimpleNamespace(
    preprocess_input=lambda images: (images - np.full(3, 127.0)) / np.full(3, 128.0)
)

#: The keras.applications module (or reference) whose preprocess_input each backbone expects.
FAMILIES = {
    "mobilenet_v2": keras.applications.mobilenet_v2,
    "densenet121": keras.applications.densenet,
    "densenet169": keras.applications.densenet,
    "densenet201": keras.applications.densenet,
    "inception_v3": keras.applications.inception_v3,
    "xception": keras.applications.xception,
    "resnet50": keras.applications.resnet50,
    "efficientnet_b0": keras.applications.efficientnet,
    "efficientnet_lite0": EFFICIENTNET_LITE_BUILDER,
    "efficientnet_lite1": EFFICIENTNET_LITE_BUILDER,
    "efficientnet_lite2": EFFICIENTNET_LITE_BUILDER,
}


PRETRAINED = sorted(name for name, spec in BACKBONES.items() if spec.pretrained)


def test_every_pretrained_backbone_has_a_reference_family():
    assert set(FAMILIES) == set(PRETRAINED)


def test_compact_backbones_get_raw_pixels():
    # They rescale by 1/255 themselves (their first layer), so no ImageNet preprocessing.
    compact = [name for name, spec in BACKBONES.items() if not spec.pretrained]
    assert compact == [
        "cnn_3x3",
        "cnn_7x7",
        "cnn_3x3_std",
        "cnn_7x7_std",
        "cnn_3x3_eq",
        "cnn_7x7_eq",
    ]
    assert {BACKBONES[name].preprocessing for name in compact} == {"none"}


@pytest.mark.parametrize("name", PRETRAINED)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 3))
def test_layer_matches_keras_preprocess_input(name, seed, batch):
    images = np.random.default_rng(seed).uniform(0, 255, (batch, 5, 7, 3)).astype("float32")
    layer = ImageNetPreprocessing(BACKBONES[name].preprocessing)
    expected = FAMILIES[name].preprocess_input(images.copy())
    np.testing.assert_allclose(np.asarray(layer(images)), expected, rtol=1e-5, atol=1e-4)


def test_unknown_mode_is_rejected_keras_style():
    with pytest.raises(ValueError, match=r"argument `mode`.*Received: mode='bgr'"):
        ImageNetPreprocessing("bgr")


def test_preprocessing_round_trips_through_config():
    layer = ImageNetPreprocessing("caffe", name="p")
    clone = ImageNetPreprocessing.from_config(layer.get_config())
    assert clone.mode == "caffe" and clone.name == "p"


def test_grayscale_to_rgb_repeats_the_channel():
    images = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4, 1)
    out = np.asarray(GrayscaleToRGB()(images))
    assert out.shape == (2, 3, 4, 3)
    np.testing.assert_array_equal(out, np.repeat(images, 3, axis=-1))


def test_grayscale_to_rgb_rejects_two_channels():
    with pytest.raises(ValueError, match="1 or 3 channels"):
        GrayscaleToRGB()(np.zeros((1, 4, 4, 2), "float32"))
