"""Several-input models: the image is explained, the other inputs pass through unchanged.

Reference: a model of the image alone whose age is a weight (the same layers, so the same
weights) gives, for each image, the map that the two-input model gives for that image and
its own age. The age reaches both the feature maps (it scales them) and the head (it is
concatenated after pooling), so a method that drops it, or pairs an image with another
image's age when it repeats rows (steps, masks, samples), gives another map.
"""

import doctest
import importlib.util

import keras
import numpy as np
import pytest
from keras import ops

import keras_cxr
from keras_cxr.explain import METHODS, GradCAM, IntegratedGradients, get_method, other_inputs

SIZE = 16
#: Cheap settings of each method (one image in 16×16; a few steps, samples, masks).
CHEAP = {
    "integrated-gradients": {"steps": 4},
    "lime": {"num_samples": 16, "n_segments": 4},
    "occlusion": {"patch": 8},
    "scorecam": {"max_channels": 4},
    "shap": {"max_evals": 20},
    "smoothgrad": {"samples": 2},
    "vargrad": {"samples": 2},
}
WRAPPERS = ("smoothgrad", "vargrad")
#: Also run under JAX and PyTorch (tests/test_backends.py): the two ways the other inputs
#: reach a backend's gradients (a CAM's head gradients; the input gradients, through
#: SmoothGrad's Saliency), padded with the images under JAX. The other methods differ
#: only in NumPy bookkeeping (which rows to repeat), the same under every backend, and
#: each costs 5 to 8 s of compiling under JAX: the suite is over its time budget.
ON_EVERY_BACKEND = ("gradcam", "smoothgrad")
HAS_SHAP = importlib.util.find_spec("shap") is not None
AGES = np.array([[0.3], [1.7]], "float32")


class BakedAge(keras.layers.Layer):
    """The age as a weight: `(batch, 1)` copies of it, whatever the images are."""

    def build(self, input_shape):
        self.age = self.add_weight(shape=(1,), initializer="zeros", trainable=False)

    def call(self, images):
        return ops.broadcast_to(self.age[None, :], (ops.shape(images)[0], 1))


def layers():
    return {
        "conv": keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        "film": keras.layers.Dense(4, name="film"),
        "reshape": keras.layers.Reshape((1, 1, 4)),
        "scale": keras.layers.Multiply(name="scale"),
        "target": keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="target"),
        "pool": keras.layers.GlobalAveragePooling2D(),
        "join": keras.layers.Concatenate(),
        "logits": keras.layers.Dense(3, activation="softmax", name="logits"),
    }


def head(shared, image, age):
    x = shared["scale"]([shared["conv"](image), shared["reshape"](shared["film"](age))])
    pooled = shared["pool"](shared["target"](x))
    return shared["logits"](shared["join"]([pooled, age]))


@pytest.fixture(scope="module")
def models():
    """`(two-input model, the same layers with the age baked in)`."""
    shared = layers()
    image, age = keras.Input((SIZE, SIZE, 3), name="image"), keras.Input((1,), name="age")
    two = keras.Model([age, image], head(shared, image, age), name="two_inputs")
    alone = keras.Input((SIZE, SIZE, 3), name="image")
    baked = keras.Model(alone, head(shared, alone, BakedAge(name="baked")(alone)), name="baked")
    rng = np.random.default_rng(0)
    for weight in two.weights:
        weight.assign(rng.normal(0, 0.5, weight.shape).astype("float32"))
    return two, baked


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).uniform(0, 1, (2, SIZE, SIZE, 3)).astype("float32")


def build(name, model, **kwargs):
    if name == "shap" and not HAS_SHAP:
        pytest.skip("shap is not installed (pip install 'keras_cxr[shap]')")
    return get_method(name)(model, **CHEAP.get(name, {}), **kwargs)


def per_image_reference(explainer, model, images, class_index):
    """Each image explained alone by the baked model, its age set as the weight."""
    rows = []
    for index, image in enumerate(images):
        model.get_layer("baked").age.assign(AGES[index])
        rows.append(explainer.explain(image[None], class_index[index : index + 1]))
    return rows


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[pytest.mark.backends] if name in ON_EVERY_BACKEND else [])
        for name in sorted(METHODS)
        if not name.startswith("attention")  # a transformer's: the test below
    ],
)
def test_each_method_equals_the_model_with_the_age_baked_in(models, images, name):
    two, baked = models
    explainer = build(name, two)
    if name in WRAPPERS:  # fresh noise per call: image by image, as the reference
        got = [
            explainer.explain(images[i : i + 1], inputs={"age": AGES[i : i + 1]})
            for i in range(len(images))
        ]
        classes = np.concatenate([g.class_index for g in got])
    else:
        explanation = explainer.explain(images, inputs={"age": AGES})
        classes = explanation.class_index
        got = [explanation.take(slice(i, i + 1)) for i in range(len(images))]
    want = per_image_reference(build(name, baked), baked, images, classes)
    for got_row, want_row in zip(got, want):
        np.testing.assert_array_equal(got_row.class_index, want_row.class_index)
        np.testing.assert_allclose(got_row.predictions, want_row.predictions, atol=1e-6)
        np.testing.assert_allclose(got_row.heatmaps, want_row.heatmaps, atol=2e-5)
        if want_row.attributions is not None:
            scale = np.abs(want_row.attributions).max()
            np.testing.assert_allclose(
                got_row.attributions, want_row.attributions, atol=1e-5 * scale
            )


def test_the_age_changes_the_map(models, images):
    """Without it the reference test could pass with the age ignored everywhere."""
    two, _ = models
    explainer = GradCAM(two)
    young = explainer.explain(images, 0, inputs={"age": AGES})
    old = explainer.explain(images, 0, inputs={"age": AGES[::-1]})
    assert np.abs(young.heatmaps - old.heatmaps).max() > 0.05
    assert np.abs(young.scores - old.scores).min() > 1e-3


def test_several_classes_per_image_take_their_image_s_inputs(models, images):
    two, baked = models
    explanation = GradCAM(two).explain(images, [[0, 2], [1]], inputs={"age": AGES})
    assert explanation.image_index.tolist() == [0, 0, 1]
    explainer = GradCAM(baked)
    for row, (image, target) in enumerate(zip(explanation.image_index, [0, 2, 1])):
        baked.get_layer("baked").age.assign(AGES[image])
        want = explainer.explain(images[image][None], target)
        np.testing.assert_allclose(explanation.heatmaps[row], want.heatmaps[0], atol=2e-5)


def test_the_image_input_is_found_by_name_index_or_rank(models):
    two, _ = models
    assert GradCAM(two)._image == 1  # the only 4-D input
    assert IntegratedGradients(two, image_input="image")._image == 1
    assert GradCAM(two, image_input=1)._image == 1


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        (None, r"argument `inputs`. Expected a mapping of the model's other inputs.*"
         r"inputs=\{'age': array of shape \(batch, 1\)\}.*Received: inputs=None"),
        ({}, r"Expected a value for every other input.*Received: inputs='no `age` among \[\]'"),
        ({"age": AGES[:1]}, r"Expected an array of shape \(2, 1\) for input `age`: one row "
         r"per image.*Received: inputs='`age` of shape \(1, 1\)'"),
        ({"age": AGES[:, 0]}, r"shape \(2, 1\) for input `age`.*of shape \(2,\)"),
        ({"age": AGES, "view": AGES}, r"Expected only the model's other inputs \['age'\]"
         r".*Received: inputs=\['view'\]"),
        ({"age": AGES, "image": AGES}, r"`image` is the image: pass it as `images`"),
        ({"age": np.array([[1.0], [np.nan]])}, r"finite values for input `age`"),
        ({"age": np.array([["a"], ["b"]])}, r"a numeric array for input `age`"),
    ],
)  # fmt: skip
def test_a_missing_or_misshaped_input_is_refused(models, images, inputs, error):
    two, _ = models
    for explainer in (GradCAM(two), IntegratedGradients(two, steps=2)):
        with pytest.raises(ValueError, match=error):
            explainer.explain(images, 0, inputs=inputs)


def test_inputs_for_a_single_input_model_are_refused(models, images):
    _, baked = models
    with pytest.raises(ValueError, match=r"Expected None: the model's only input is the image"):
        GradCAM(baked).explain(images, 0, inputs={"age": AGES})


def test_an_ambiguous_or_unknown_image_input_is_refused():
    image, mask = keras.Input((8, 8, 1), name="image"), keras.Input((8, 8, 1), name="mask")
    x = keras.layers.Concatenate()([image, mask])
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, name="conv")(x))
    model = keras.Model([image, mask], keras.layers.Dense(2)(x))
    ambiguous = (
        r"argument `image_input`. Expected the name or index.*"
        r"\['image', 'mask'\]: the model has 2 inputs and 2 of them are 4-D"
    )
    with pytest.raises(ValueError, match=ambiguous):
        GradCAM(model)
    unknown = r"Expected an input name in \['image', 'mask'\] or an index below 2. Received: "
    with pytest.raises(ValueError, match=unknown + "image_input='age'"):
        get_method("saliency")(model, image_input="age")
    explanation = GradCAM(model, image_input="mask").explain(
        np.ones((1, 8, 8, 1), "float32"), 0, inputs={"image": np.ones((1, 8, 8, 1))}
    )
    assert explanation.heatmaps.shape == (1, 8, 8)


def test_the_examples_in_the_docstrings_run():
    result = doctest.testmod(other_inputs, extraglobs={"keras_cxr": keras_cxr})
    assert result.attempted >= 5 and result.failed == 0


def test_the_batch_explainer_refuses_a_several_input_model(models):
    two, _ = models
    with pytest.raises(
        ValueError,
        match=r"explain a several-input model with `explain\(images, inputs=...\)`.*"
        r"Received: model='two_inputs with 2 inputs'",
    ):
        keras_cxr.BatchExplainer(two, warm_up=False)


def test_the_traceable_core_refuses_a_several_input_model(models, images):
    two, _ = models
    with pytest.raises(ValueError, match=r"explain_tensors and the export take images alone"):
        GradCAM(two).explain_tensors(images, np.full(2, -1, "int32"))


def test_a_model_built_on_a_dict_with_an_integer_input_equals_its_list_twin():
    """A dict-built model takes its inputs in the dict's (sorted) order; an int32 view
    position reaches its Embedding as integers, also when findings above a threshold are
    chosen (the user's model itself is then called, with a dict)."""
    embed, conv = keras.layers.Embedding(3, 4), keras.layers.Conv2D(4, 3, activation="relu")
    dense = keras.layers.Dense(3, activation="sigmoid")

    def output(image, view):
        x = keras.layers.GlobalAveragePooling2D()(conv(image))
        return dense(keras.layers.Concatenate()([x, keras.layers.Flatten()(embed(view))]))

    image = keras.Input((SIZE, SIZE, 1), name="x")
    view = keras.Input((1,), name="view", dtype="int32")
    as_dict = keras.Model({"x": image, "view": view}, output(image, view))
    as_list = keras.Model([image, view], output(image, view))
    assert other_inputs.input_names(as_dict) == ["view", "x"]
    assert other_inputs.input_names(as_list) == ["x", "view"]
    pixels = np.random.default_rng(2).uniform(0, 1, (2, SIZE, SIZE, 1)).astype("float32")
    views = np.array([[2], [0]])
    got = GradCAM(as_dict).explain(pixels, "positive", threshold=0.3, inputs={"view": views})
    want = GradCAM(as_list).explain(pixels, "positive", threshold=0.3, inputs={"view": views})
    assert len(got.class_index) > 0
    np.testing.assert_array_equal(got.image_index, want.image_index)
    np.testing.assert_array_equal(got.class_index, want.class_index)
    np.testing.assert_allclose(got.heatmaps, want.heatmaps, atol=1e-6)
    with pytest.raises(ValueError, match=r"other inputs \['view'\]"):
        GradCAM(as_dict).explain(pixels, 0, inputs={"view_position": views})


def vit_layers():
    from .models import PATCH, WIDTH, ClassToken

    return {
        "embed": keras.layers.Conv2D(WIDTH, PATCH, strides=PATCH, name="patch_embed"),
        "tokens": keras.layers.Reshape(((SIZE // PATCH) ** 2, WIDTH)),
        "film": keras.layers.Dense(WIDTH, name="film"),
        "add_age": keras.layers.Add(),
        "class_token": ClassToken(1, name="class_token"),
        "norm": keras.layers.LayerNormalization(name="norm"),
        "attention": keras.layers.MultiHeadAttention(2, 4, name="attention"),
        "residual": keras.layers.Add(),
        "join": keras.layers.Concatenate(),
        "logit": keras.layers.Dense(1, activation="sigmoid", name="logit"),
    }


def vit_head(shared, image, age):
    film = keras.layers.Reshape((1, -1))(shared["film"](age))
    x = shared["class_token"](shared["add_age"]([shared["tokens"](shared["embed"](image)), film]))
    y = shared["norm"](x)
    x = shared["residual"]([x, shared["attention"](y, y)])
    return shared["logit"](shared["join"]([x[:, 0], age]))


@pytest.mark.parametrize("name", ["attention-rollout", "attention-gradient"])
def test_the_attention_methods_take_the_other_inputs_too(images, name):
    shared = vit_layers()
    image, age = keras.Input((SIZE, SIZE, 3), name="image"), keras.Input((1,), name="age")
    two = keras.Model([image, age], vit_head(shared, image, age), name="vit_two_inputs")
    alone = keras.Input((SIZE, SIZE, 3), name="image")
    baked = keras.Model(alone, vit_head(shared, alone, BakedAge(name="baked")(alone)))
    rng = np.random.default_rng(2)
    for weight in two.weights:
        weight.assign(rng.normal(0, 0.5, weight.shape).astype("float32"))
    explanation = build(name, two).explain(images, inputs={"age": AGES})
    want = per_image_reference(build(name, baked), baked, images, explanation.class_index)
    for index, want_row in enumerate(want):
        got_row = explanation.take(slice(index, index + 1))
        np.testing.assert_allclose(got_row.predictions, want_row.predictions, atol=1e-6)
        np.testing.assert_allclose(got_row.heatmaps, want_row.heatmaps, atol=2e-5)
    other_age = build(name, two).explain(images, inputs={"age": AGES[::-1]})
    assert not np.allclose(other_age.heatmaps, explanation.heatmaps, atol=1e-3)
