"""Sigmoid and softmax heads are found in every form; heads that cannot be told are refused."""

import doctest

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr import GradCAM
from keras_cxr.explain import Saliency, output_head
from keras_cxr.explain.graph import flatten_model
from keras_cxr.explain.output_head import UNKNOWN, find_logits

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

SHAPE = (10, 10, 3)
IMAGES = np.random.default_rng(0).normal(0, 1, (4, *SHAPE)).astype("float32")


def trunk(units: int):
    """Image → Conv(4, valid, relu) "conv" → GAP → Dense(units) "dense": the logits."""
    inputs = keras.Input(SHAPE, name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(units, name="dense")
    logits = dense(x)
    rng = np.random.default_rng(units)
    keras.Model(inputs, logits).set_weights(
        [rng.normal(0, 0.5, w.shape).astype("float32") for w in keras.Model(inputs, logits).weights]
    )
    return inputs, x, dense, logits


def head_with_argument(activation):
    """The head as `Dense(units, activation=...)`, sharing the trunk's weights."""

    def build(inputs, pooled, dense, logits):
        twin = keras.layers.Dense(dense.units, activation=activation, name="dense_act")
        outputs = twin(pooled)
        twin.set_weights(dense.get_weights())
        return outputs

    return build


#: Every form of the head; `build(inputs, pooled, dense, logits)` gives the model's output.
FORMS = {
    "Activation layer": lambda act: lambda i, p, d, z: keras.layers.Activation(act)(z),
    "activation= argument": head_with_argument,
    "keras.ops call": lambda act: lambda i, p, d, z: getattr(keras.ops, act)(z),
    "keras.activations call": lambda act: lambda i, p, d, z: getattr(keras.activations, act)(z),
    "Dropout after it": lambda act: (
        lambda i, p, d, z: keras.layers.Dropout(0.5)(keras.layers.Activation(act)(z))
    ),
}
CASES = [(form, "sigmoid", units) for form in FORMS for units in (1, 3)]
CASES += [(form, "softmax", 3) for form in FORMS]
CASES += [("Softmax layer", "softmax", 3)]


def model_with_head(form: str, activation: str, units: int):
    """`(model, logits model)`: the head in `form`, and the same trunk ending in logits."""
    inputs, pooled, dense, logits = trunk(units)
    if form == "Softmax layer":
        outputs = keras.layers.Softmax()(logits)
    else:
        outputs = FORMS[form](activation)(inputs, pooled, dense, logits)
    return keras.Model(inputs, outputs), keras.Model(inputs, logits)


@pytest.mark.parametrize(("form", "activation", "units"), CASES)
def test_the_activation_is_found_in_every_form(form, activation, units):
    model, _ = model_with_head(form, activation, units)
    graph = flatten_model(model)
    logits, found, _ = find_logits(graph, graph.outputs[0])
    assert found == activation
    assert tuple(logits.shape) == (None, units)


@pytest.mark.parametrize("method", [GradCAM, Saliency])
@pytest.mark.parametrize(
    ("form", "activation", "units"),
    [
        ("keras.ops call", "sigmoid", 1),
        ("keras.ops call", "softmax", 3),
        ("Softmax layer", "softmax", 3),
        ("activation= argument", "sigmoid", 3),
    ],
)
def test_explained_through_the_logits(method, form, activation, units):
    # Scores and classes come from the logits, computed here by the linear twin model;
    # the maps equal those of the twin explained for the same classes.
    model, twin = model_with_head(form, activation, units)
    logits = np.asarray(twin.predict(IMAGES, verbose=0), np.float64)
    explanation = method(model).explain(IMAGES)
    expected = (logits[:, 0] > 0).astype(int) if units == 1 else logits.argmax(axis=1)
    np.testing.assert_array_equal(explanation.class_index, expected)
    np.testing.assert_allclose(
        explanation.predictions, model.predict(IMAGES, verbose=0), rtol=1e-5, atol=1e-6
    )
    chosen = (
        logits[:, 0] * np.where(expected == 1, 1, -1)
        if units == 1
        else logits[np.arange(len(IMAGES)), expected]
    )
    np.testing.assert_allclose(explanation.scores, chosen, rtol=1e-4, atol=1e-5)
    reference = method(twin).explain(IMAGES, class_index=expected.astype("int32"))
    np.testing.assert_allclose(explanation.heatmaps, reference.heatmaps, atol=1e-5)


def unknown_heads():
    inputs, pooled, _, logits = trunk(1)
    second = keras.layers.Dense(1, activation="sigmoid", name="second")(pooled)
    return {
        "tanh": keras.Model(inputs, keras.ops.tanh(logits)),
        "scaled logits": keras.Model(inputs, keras.ops.multiply(logits, 2.0)),
        "relu activation": keras.Model(inputs, keras.layers.Activation("relu")(logits)),
        "mean of probabilities": keras.Model(
            inputs, keras.layers.Average()([keras.layers.Activation("sigmoid")(logits), second])
        ),
    }


@pytest.mark.parametrize("method", [GradCAM, Saliency])
@pytest.mark.parametrize(
    "name", ["tanh", "scaled logits", "relu activation", "mean of probabilities"]
)
def test_a_head_that_cannot_be_told_is_refused(method, name):
    model = unknown_heads()[name]
    graph = flatten_model(model)
    assert find_logits(graph, graph.outputs[0])[1] == UNKNOWN
    for score in ("logit", "probability"):
        with pytest.raises(
            ValueError,
            match=r"Cannot tell whether the output of `.*` is a logit or a probability: its "
            r"last operation `.*` is no sigmoid, softmax or linear layer.*"
            r'Pass `score="output"`.*with `class_index=` naming the class of each image',
        ):
            method(model, score=score)
    # Explained as it is, for the classes given; the predicted class stays unknown.
    explainer = method(model, score="output")
    output = np.asarray(model.predict(IMAGES, verbose=0))[:, 0]
    explanation = explainer.explain(IMAGES, class_index=np.array([1, 0, 1, 1]))
    np.testing.assert_allclose(
        explanation.scores, output * np.array([1, -1, 1, 1]), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"argument `class_index`. Expected the class of each"):
        explainer.explain(IMAGES)


def test_linear_combinations_of_logits_are_logits():
    # A CAM-style head (a linear 1×1 convolution, then pooling) and an average of logits.
    inputs = keras.Input(SHAPE)
    conv = keras.layers.Conv2D(3, 1)(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    pooled = keras.layers.GlobalAveragePooling2D()(conv)
    other = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    for outputs in (pooled, keras.layers.Average()([pooled, other])):
        graph = flatten_model(keras.Model(inputs, outputs))
        assert find_logits(graph, graph.outputs[0])[1] is None
    assert GradCAM(keras.Model(inputs, pooled)).explain(IMAGES).class_index.shape == (4,)


def test_the_examples_in_the_docstrings_run():
    extras = {"keras_cxr": keras_cxr, "keras": keras}
    result = doctest.testmod(output_head, extraglobs=extras, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0
