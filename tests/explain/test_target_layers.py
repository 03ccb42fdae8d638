"""Target-layer resolution: automatic search, names, paths, objects and the errors."""

import keras
import numpy as np
import pytest

from keras_cxr import GradCAM, LayerCAM, StackedEnsemble
from keras_cxr.explain import block_layers, normalize

from .models import tiny_cnn


@pytest.fixture(scope="module")
def ensemble():
    return StackedEnsemble(
        ("mobilenet_v2", "densenet121"), weights=None, input_shape=(64, 64, 3), head_units=(8,)
    )


def test_picks_the_final_feature_map_not_the_last_conv(ensemble):
    # DenseNet ends conv5_block16_2_conv → concat → bn → relu: the map is `relu`.
    assert GradCAM(ensemble).target_layers == [
        "stacked_backbones/mobilenet_v2/out_relu",
        "stacked_backbones/densenet121/relu",
    ]


@pytest.mark.parametrize(
    "spec",
    [
        "densenet121/relu",
        "stacked_backbones/densenet121/relu",
        "/stacked_backbones/densenet121/relu",
    ],
)
def test_paths_and_suffixes(ensemble, spec):
    assert GradCAM(ensemble, layer=spec).target_layers == ["stacked_backbones/densenet121/relu"]


def test_layer_objects_and_lists(ensemble):
    relu = ensemble.backbones["densenet121"].get_layer("relu")
    out_relu = ensemble.backbones["mobilenet_v2"].get_layer("out_relu")
    assert GradCAM(ensemble, layer=relu).target_layers == ["stacked_backbones/densenet121/relu"]
    explainer = GradCAM(ensemble, layer=[out_relu, "densenet121/conv5_block16_2_conv"])
    assert explainer.target_layers == [
        "stacked_backbones/mobilenet_v2/out_relu",
        "stacked_backbones/densenet121/conv5_block16_2_conv",
    ]


def test_a_whole_backbone_object_means_its_output(ensemble):
    explainer = GradCAM(ensemble, layer=ensemble.backbones["mobilenet_v2"])
    assert explainer.target_layers == ["stacked_backbones/mobilenet_v2"]


def test_unknown_layer_lists_candidates(ensemble):
    with pytest.raises(
        ValueError, match=r"Could not find layer `nope`.*Candidate layers: \[.*out_relu"
    ):
        GradCAM(ensemble, layer="nope")


def test_ambiguous_name_asks_for_a_longer_path():
    def branch(name):
        inputs = keras.Input((16, 16, 3))
        return keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(inputs), name=name)

    inputs = keras.Input((16, 16, 3))
    pooled = [keras.layers.GlobalAveragePooling2D()(branch(n)(inputs)) for n in ("a", "b")]
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Concatenate()(pooled)))
    with pytest.raises(ValueError, match=r"ambiguous; it matches \['a/conv', 'b/conv'\]"):
        GradCAM(model, layer="conv")
    assert GradCAM(model, layer="b/conv").target_layers == ["b/conv"]


def test_non_spatial_layer_is_refused(ensemble):
    with pytest.raises(ValueError, match=r"not a 4-D feature map.*Candidate layers"):
        GradCAM(ensemble, layer="head_dense_1")


def test_model_without_spatial_layers_is_refused():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    with pytest.raises(ValueError, match=r"Found no spatial \(4-D\) feature map.*Pass `layer=`"):
        GradCAM(keras.Model(inputs, outputs))


def test_layer_of_another_model_is_refused():
    other = tiny_cnn(name="other")
    with pytest.raises(ValueError, match="Could not find layer object `last_relu`"):
        GradCAM(tiny_cnn(), layer=other.get_layer("last_relu"))


@pytest.mark.backends
@pytest.mark.parametrize("method", [GradCAM, LayerCAM])
def test_two_layers_on_one_path_each_get_the_gradient_of_the_whole_rest(method):
    # One head per target: the map of `relu1` must be the one it gets when explained
    # alone (the gradient flows through conv2 and last_relu), not a map cut off there.
    model = tiny_cnn()
    images = np.random.default_rng(5).uniform(0, 255, (3, 16, 16, 3))
    both = method(model, layer=["last_relu", "relu1"]).explain(images, class_index=1)
    assert both.target_layers == ["last_relu", "relu1"]
    for path in both.target_layers:
        alone = method(model, layer=path).explain(images, class_index=1)
        np.testing.assert_allclose(both.layer_heatmaps[path], alone.heatmaps, atol=1e-5)
        np.testing.assert_allclose(both.scores, alone.scores, rtol=1e-6)
    fused = normalize(np.mean([both.layer_heatmaps[p] for p in both.target_layers], axis=0))
    np.testing.assert_allclose(both.heatmaps, fused, atol=1e-6)


def test_bad_layer_type():
    with pytest.raises(ValueError, match=r"argument `layer`.*Received: layer=3"):
        GradCAM(tiny_cnn(), layer=3)


def test_branches_of_a_plain_functional_model():
    inputs = keras.Input((16, 16, 3))
    left = keras.layers.Conv2D(4, 3, activation="relu", name="left")(inputs)
    right = keras.layers.Conv2D(4, 5, activation="relu", name="right")(inputs)
    pooled = [keras.layers.GlobalMaxPooling2D()(t) for t in (left, right)]
    outputs = keras.layers.Dense(1)(keras.layers.Concatenate()(pooled))
    assert GradCAM(keras.Model(inputs, outputs)).target_layers == ["left", "right"]


def strided_cnn():
    """Three stages (16, 8 and 4 pixels), each ending in a ReLU; a residual block in the
    second, so that its inner layers are bypassed and only its Add output counts."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="s1_conv")(inputs)
    x = keras.layers.ReLU(name="s1_out")(x)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="s2_down")(x)
    inner = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="s2_inner")(x)
    x = keras.layers.Add(name="s2_add")([x, inner])
    x = keras.layers.ZeroPadding2D(1, name="s3_pad")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, name="s3_down")(x)
    x = keras.layers.ReLU(name="s3_out")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="dense")(x))


def test_block_layers_are_the_ends_of_the_last_stages():
    model = strided_cnn()
    assert block_layers(model, n=3) == ["s1_out", "s2_add", "s3_out"]
    assert block_layers(model, n=2) == ["s2_add", "s3_out"]
    assert block_layers(model, n=1) == GradCAM(model).target_layers == ["s3_out"]
    assert block_layers(model, n=9) == ["s1_out", "s2_add", "s3_out"]  # all there are


def test_block_layers_of_each_branch_of_an_ensemble(two_branch_ensemble):
    layers = block_layers(two_branch_ensemble, n=2)
    assert layers == [
        "stacked_backbones/b3/b3_stage1_2_relu",
        "stacked_backbones/b3/b3_stage2_2_relu",
        "stacked_backbones/b5/b5_stage1_2_relu",
        "stacked_backbones/b5/b5_stage2_2_relu",
    ]
    assert [layers[1], layers[3]] == GradCAM(two_branch_ensemble).target_layers


@pytest.mark.backends
def test_layercam_on_several_blocks_fuses_the_maps_each_would_give_alone():
    model = strided_cnn()
    images = np.random.default_rng(6).uniform(0, 255, (2, 16, 16, 3))
    fused = LayerCAM(model, layer=block_layers(model, n=3)).explain(images, class_index=1)
    alone = [LayerCAM(model, layer=p).explain(images, class_index=1) for p in fused.target_layers]
    for path, explanation in zip(fused.target_layers, alone):
        np.testing.assert_allclose(fused.layer_heatmaps[path], explanation.heatmaps, atol=1e-5)
    expected = normalize(np.mean([e.heatmaps for e in alone], axis=0))
    np.testing.assert_allclose(fused.heatmaps, expected, atol=1e-5)
    # The shallow stage is finer than the last one: its map varies within 4 × 4 blocks.
    shallow = fused.layer_heatmaps["s1_out"].reshape(2, 4, 4, 4, 4)
    deep = fused.layer_heatmaps["s3_out"].reshape(2, 4, 4, 4, 4)
    assert shallow.std(axis=(2, 4)).mean() > deep.std(axis=(2, 4)).mean()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: block_layers(strided_cnn(), n=0), r"argument `n`. Expected an integer >= 1"),
        (lambda: block_layers(strided_cnn(), output=1), r"argument `output`"),
        (lambda: block_layers(fully_convolutional()), r"has no fixed size.*fixed input size"),
    ],
)
def test_block_layers_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def fully_convolutional():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="c")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x)))
