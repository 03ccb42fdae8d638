"""Heatmaps agree with a slow reference: autodiff through an explicit, flat recomposition."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_cxr import GradCAM, StackedEnsemble, load_model
from keras_cxr.explain import normalize, upsample

from .autodiff import maps_and_gradients
from .models import calibrate_batchnorm, tiny_cnn, with_random_weights

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

SIZE = 64  # deep backbones need 64 px for a 2×2 final map (32 px gives 1×1)
IMAGES = np.random.default_rng(7).uniform(0, 255, (3, SIZE, SIZE, 3)).astype("float32")


def reference_heatmaps(run, class_index):
    """keras.io-style Grad-CAM: `run(watch, x)` returns (feature maps, logits), each map
    passed through `watch` (see `tests/explain/autodiff.py`)."""
    return reference_heatmaps_of_both_classes(run)[class_index]


def reference_heatmaps_of_both_classes(run):
    """`{0: (fused, layer maps), 1: ...}` from one autodiff pass: class 0 of a sigmoid unit
    scores the negated logit, whose gradient is exactly the negated gradient."""
    maps, gradients = maps_and_gradients(run, IMAGES, lambda logits: logits[:, 0])
    both = {}
    for class_index, sign in ((0, -1.0), (1, 1.0)):
        layer_maps = []
        for feature, grads in zip(maps, gradients):
            weights = (sign * grads).mean(axis=(1, 2), keepdims=True)
            cam = np.maximum((weights * feature).sum(-1), 0)
            layer_maps.append(np.asarray(normalize(upsample(cam, (SIZE, SIZE)))))
        fused = layer_maps[0] if len(layer_maps) == 1 else normalize(np.mean(layer_maps, 0))
        both[class_index] = (np.asarray(fused), layer_maps)
    return both


def nested_backbone_model(name):
    constructor = {
        "mobilenet_v2": keras.applications.MobileNetV2,
        "densenet121": keras.applications.DenseNet121,
    }[name]
    base = constructor(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    calibrate_batchnorm(model, IMAGES)
    return model, base


def run_nested(model, base):
    dense = model.layers[-1]

    def run(watch, x):
        feature = watch(base(model.layers[1](x), training=False))  # rescaling, the backbone
        pooled = model.layers[3](feature)  # global average pooling
        logits = ops.matmul(pooled, dense.kernel) + dense.bias  # the logit, not the sigmoid
        return [feature], logits

    return run


#: Under the other backends the stacked-ensemble test covers DenseNet121; alone it would add
#: about a minute (XLA compile under JAX, eager BatchNorm calibration under PyTorch).
_DENSENET_ELSEWHERE = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="DenseNet121 is covered by the ensemble test"
)


@pytest.mark.parametrize(
    ("name", "last"),
    [("mobilenet_v2", "out_relu"), pytest.param("densenet121", "relu", marks=_DENSENET_ELSEWHERE)],
)
def test_nested_backbone_matches_reference(name, last):
    model, base = nested_backbone_model(name)
    explainer = GradCAM(model)
    assert explainer.target_layers == [f"{base.name}/{last}"]
    peaks = []
    references = reference_heatmaps_of_both_classes(run_nested(model, base))
    for class_index in (0, 1):
        expected, _ = references[class_index]
        got = explainer.explain(IMAGES, class_index=class_index).heatmaps
        np.testing.assert_allclose(got, expected, atol=2e-4)
        peaks.extend(got.max(axis=(1, 2)))
    assert max(peaks) == pytest.approx(1.0), "the comparison must not be zeros against zeros"


def test_stacked_ensemble_matches_reference_per_branch_and_fused():
    model = StackedEnsemble(
        ("mobilenet_v2", "densenet121"), weights=None, input_shape=(SIZE, SIZE, 3), head_units=(16,)
    )
    calibrate_batchnorm(model, IMAGES)
    stack = model.stacked_backbones

    def run(watch, x):
        maps, pooled = [], []
        for name, net in model.backbones.items():
            feature = watch(net(stack.get_layer(f"{name}_preprocessing")(x), training=False))
            maps.append(feature)
            pooled.append(stack.get_layer(f"{name}_pool")(feature))
        h = ops.concatenate(pooled, axis=-1)
        for layer in ("head_bn_1", "head_dense_1", "head_dropout_1", "logits"):
            h = model.get_layer(layer)(h, training=False)
        return maps, h

    explainer = GradCAM(model)
    assert explainer.target_layers == [
        "stacked_backbones/mobilenet_v2/out_relu",
        "stacked_backbones/densenet121/relu",
    ]
    expected_fused, expected_layers = reference_heatmaps(run, 1)
    explanation = explainer.explain(IMAGES, class_index=1)
    for path, expected in zip(explainer.target_layers, expected_layers):
        np.testing.assert_allclose(explanation.layer_heatmaps[path], expected, atol=2e-4)
    np.testing.assert_allclose(explanation.heatmaps, expected_fused, atol=2e-4)


def sequential_model():
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu", name="c1"),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="c2"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, name="logits"),
            keras.layers.Activation("sigmoid"),
        ]
    )
    return model


def run_sequential(model):
    def run(watch, x):
        h = x
        feature = None
        for layer in model.layers[:-1]:
            h = layer(h)
            if layer.name == "c2":
                h = feature = watch(h)
        return [feature], h

    return run


def test_sequential_model_matches_reference():
    model = sequential_model()
    explainer = GradCAM(model)
    assert explainer.target_layers == ["c2"]
    expected, _ = reference_heatmaps(run_sequential(model), 1)
    np.testing.assert_allclose(explainer.explain(IMAGES, 1).heatmaps, expected, atol=2e-4)


def test_reloaded_models_match_reference(tmp_path):
    model = sequential_model()
    model.save(tmp_path / "seq.keras")
    loaded = load_model(tmp_path / "seq.keras")
    expected, _ = reference_heatmaps(run_sequential(loaded), 1)
    np.testing.assert_allclose(GradCAM(loaded).explain(IMAGES, 1).heatmaps, expected, atol=2e-4)

    nested, _ = nested_backbone_model("mobilenet_v2")
    nested.save(tmp_path / "nested.keras")
    reloaded = load_model(tmp_path / "nested.keras")
    reloaded_base = reloaded.layers[2]
    expected, _ = reference_heatmaps(run_nested(reloaded, reloaded_base), 1)
    np.testing.assert_allclose(GradCAM(reloaded).explain(IMAGES, 1).heatmaps, expected, atol=2e-4)


def test_subclassed_model_with_backbone_attribute_needs_and_uses_explicit_layer():
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.backbone = tiny_cnn((SIZE, SIZE, 3)).get_layer("conv1")
            self.conv = keras.layers.Conv2D(6, 3, activation="relu", name="features")
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.head = keras.layers.Dense(1, name="logits")

        def call(self, x):
            return self.head(self.pool(self.conv(self.backbone(x / 255.0))))

    model = Classifier()
    model(IMAGES)
    with pytest.raises(ValueError, match=r"subclassed.*Pass the layer explicitly"):
        GradCAM(model)
    explainer = GradCAM(model, layer=model.conv)
    assert explainer.target_layers == ["features"]

    def run(watch, x):
        feature = watch(model.conv(model.backbone(x / 255.0)))
        return [feature], model.head(model.pool(feature))

    expected, _ = reference_heatmaps(run, 1)
    np.testing.assert_allclose(explainer.explain(IMAGES, 1).heatmaps, expected, atol=2e-4)
    by_path = GradCAM(model, layer="features").explain(IMAGES, 1)
    np.testing.assert_allclose(by_path.heatmaps, expected, atol=2e-4)


def same_named_branch(name):
    """A small backbone; two of them share every inner layer name, as DenseNets do."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, strides=4, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.ReLU(name="relu")(x)
    return keras.Model(inputs, outputs, name=name)


def test_backbones_sharing_inner_layer_names_match_reference():
    # DenseNet121 + DenseNet169 made the flattened graph fail with 'The name "conv1_conv"
    # is used 2 times in the model'; the second "conv"/"bn"/"relu" must get aliases.
    branches = [same_named_branch("branch_a"), same_named_branch("branch_b")]
    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = [
        keras.layers.GlobalAveragePooling2D(name=f"pool_{i}")(branch(inputs, training=False))
        for i, branch in enumerate(branches)
    ]
    x = keras.layers.Concatenate()(pooled)
    dense = keras.layers.Dense(1, activation="sigmoid", name="head")
    model = keras.Model(inputs, dense(x))
    calibrate_batchnorm(model, IMAGES)

    def run(watch, x):
        maps = [watch(branch(x, training=False)) for branch in branches]
        pooled = ops.concatenate([ops.mean(feature, axis=(1, 2)) for feature in maps], -1)
        return maps, ops.matmul(pooled, dense.kernel) + dense.bias

    explainer = GradCAM(model)
    assert explainer.target_layers == ["branch_a/relu", "branch_b/relu"]
    expected_fused, expected_layers = reference_heatmaps(run, 1)
    explanation = explainer.explain(IMAGES, class_index=1)
    for path, expected in zip(explainer.target_layers, expected_layers):
        np.testing.assert_allclose(explanation.layer_heatmaps[path], expected, atol=2e-4)
        assert expected.max() == pytest.approx(1.0)
    np.testing.assert_allclose(explanation.heatmaps, expected_fused, atol=2e-4)
    np.testing.assert_allclose(explanation.predictions, model.predict(IMAGES, verbose=0), 1e-5)


def bypassed_target_model():
    """InceptionV3 at 75 px and NASNetMobile at 32 px in small: the last spatial map `a`
    ends in a 1×1 map, and a pooling branch from the stem reaches the head around it."""
    inputs = keras.Input((SIZE, SIZE, 3))
    stem = keras.layers.Conv2D(4, 3, strides=4, padding="same", activation="relu", name="stem")
    x = stem(inputs)  # 16×16
    a = keras.layers.Conv2D(4, 1, activation="relu", name="a")(x)
    reduced = keras.layers.Conv2D(4, 16, name="reduce")(a)  # 1×1
    pooled = keras.layers.MaxPooling2D(16, name="pool")(x)  # 1×1, bypasses `a`
    merged = keras.layers.Concatenate(name="mixed")([reduced, pooled])
    x = keras.layers.GlobalAveragePooling2D()(merged)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="dense")(x))
    return with_random_weights(model, seed=3, scale=0.3)


def test_a_target_that_a_pooling_branch_bypasses_matches_reference():
    """Regression: the head was cut without the pooled branch, so Keras raised "Output with
    path `` is not connected to `inputs`" (the head's built-in sigmoid hid the bypass)."""
    model = bypassed_target_model()
    layer = {name: model.get_layer(name) for name in ("stem", "a", "reduce", "pool", "mixed")}
    dense = model.get_layer("dense")

    def run(watch, x):
        stem = layer["stem"](x)
        feature = watch(layer["a"](stem))
        merged = layer["mixed"]([layer["reduce"](feature), layer["pool"](stem)])
        logits = ops.matmul(ops.mean(merged, axis=(1, 2)), dense.kernel) + dense.bias
        return [feature], logits

    explainer = GradCAM(model)
    assert explainer.target_layers == ["a"]
    # The pooled branch crosses the cut: the head takes it as the features computed it.
    assert explainer._split.head_crossing == [(1,)]
    assert explainer._split.heads_need_image == [False]
    peaks = []
    for class_index, (expected, _) in reference_heatmaps_of_both_classes(run).items():
        got = explainer.explain(IMAGES, class_index=class_index).heatmaps
        np.testing.assert_allclose(got, expected, atol=2e-4)
        peaks.extend(got.max(axis=(1, 2)))
    assert max(peaks) == pytest.approx(1.0), "the comparison must not be zeros against zeros"
