"""Multi-label heads: several findings per image, each explained against its own gradients."""

import doctest

import keras
import numpy as np
import pytest
from keras import ops

import keras_cxr
from keras_cxr import GradCAM
from keras_cxr.explain import Saliency, SmoothGrad, findings, normalize, upsample
from keras_cxr.explain.findings import expand_findings

from .autodiff import maps_and_gradients

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

SIZE, FINDINGS = 10, 3
IMAGES = np.random.default_rng(4).normal(0, 1, (4, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def model():
    """Image → Conv(4, valid, relu) "conv" → GAP → Dense(3) "dense" → sigmoid per finding."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(FINDINGS, name="dense")(x)
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(x))
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.6, w.shape).astype("float32") for w in model.weights])
    return model


def run_by_hand(model, watch_input=False):
    """`run(watch, x)` for `tests/explain/autodiff.py`: the conv map (or the image) and
    the logits, recomposed from the layers' weights."""
    conv, dense = model.get_layer("conv"), model.get_layer("dense")

    def run(watch, x):
        if watch_input:
            x = watch(x)
            feature = conv(x)
        else:
            feature = watch(conv(x))
        pooled = ops.mean(feature, axis=(1, 2))
        return [x if watch_input else feature], ops.matmul(pooled, dense.kernel) + dense.bias

    return run


def gradcam_by_hand(model, finding):
    """keras.io-style Grad-CAM of one finding's logit, for every image."""
    (feature,), (gradient,) = maps_and_gradients(
        run_by_hand(model), IMAGES, lambda logits: logits[:, finding]
    )
    cam = np.maximum((gradient.mean(axis=(1, 2), keepdims=True) * feature).sum(-1), 0)
    return np.asarray(normalize(upsample(cam, (SIZE, SIZE))))


def logits_of(model):
    dense = keras.Model(model.inputs, model.get_layer("dense").output)
    return np.asarray(dense.predict(IMAGES, verbose=0), np.float64)


def test_a_list_of_findings_gives_one_map_per_image_and_finding(model):
    explanation = GradCAM(model).explain(IMAGES, class_index=[0, 2])
    np.testing.assert_array_equal(explanation.image_index, [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(explanation.class_index, [0, 2] * 4)
    logits = logits_of(model)
    for finding in (0, 2):
        rows = explanation.class_index == finding
        np.testing.assert_allclose(
            explanation.heatmaps[rows], gradcam_by_hand(model, finding), atol=1e-4
        )
        np.testing.assert_allclose(explanation.scores[rows], logits[:, finding], rtol=1e-4)
    np.testing.assert_allclose(
        explanation.predictions, 1 / (1 + np.exp(-logits[explanation.image_index])), rtol=1e-4
    )
    assert explanation.overlay(IMAGES).shape == (8, SIZE, SIZE, 3)
    effusion = explanation.take(explanation.class_index == 2)
    np.testing.assert_array_equal(effusion.image_index, [0, 1, 2, 3])
    np.testing.assert_array_equal(effusion.heatmaps, explanation.heatmaps[1::2])


def test_positive_explains_each_finding_above_its_threshold(model):
    probabilities = model.predict(IMAGES, verbose=0)
    threshold = [0.5, 0.3, 0.7]
    explanation = GradCAM(model, score="probability").explain(
        IMAGES, class_index="positive", threshold=threshold
    )
    images, expected = np.nonzero(probabilities > np.array(threshold))
    assert 0 < len(images) < IMAGES.shape[0] * FINDINGS, "a mix of positive and negative"
    np.testing.assert_array_equal(explanation.image_index, images)
    np.testing.assert_array_equal(explanation.class_index, expected)
    # The probability score of a multi-label head is each finding's own sigmoid.
    np.testing.assert_allclose(explanation.scores, probabilities[images, expected], rtol=1e-4)
    for row, (image, finding) in enumerate(zip(images, expected)):
        np.testing.assert_allclose(
            explanation.heatmaps[row], gradcam_by_hand(model, finding)[image], atol=1e-4
        )


def test_no_positive_finding_gives_an_empty_explanation(model):
    explanation = Saliency(model).explain(IMAGES, class_index="positive", threshold=0.999999)
    assert len(explanation) == 0
    assert explanation.heatmaps.shape == (0, SIZE, SIZE)
    assert explanation.attributions.shape == (0, SIZE, SIZE)
    assert explanation.image_index.shape == (0,)


def test_saliency_per_finding_matches_the_input_gradient(model):
    requested = [[1], [0, 2], [], [2]]
    explanation = Saliency(model).explain(IMAGES, class_index=requested)
    np.testing.assert_array_equal(explanation.image_index, [0, 1, 1, 3])
    np.testing.assert_array_equal(explanation.class_index, [1, 0, 2, 2])
    for row, (image, finding) in enumerate(zip([0, 1, 1, 3], [1, 0, 2, 2])):
        _, (gradient,) = maps_and_gradients(
            run_by_hand(model, watch_input=True),
            IMAGES[image : image + 1],
            lambda logits, finding=finding: logits[:, finding],
        )
        np.testing.assert_allclose(
            explanation.attributions[row], np.abs(gradient[0]).max(-1), rtol=1e-4, atol=1e-6
        )


def test_smoothgrad_keeps_the_rows(model):
    explanation = SmoothGrad(GradCAM(model), samples=2, seed=0).explain(IMAGES, [0, 2])
    np.testing.assert_array_equal(explanation.image_index, [0, 0, 1, 1, 2, 2, 3, 3])
    assert explanation.heatmaps.shape == (8, SIZE, SIZE)


def test_one_finding_and_per_image_arrays_keep_one_row_per_image(model):
    explanation = GradCAM(model).explain(IMAGES, class_index=np.array([2, 1, 0, 2]))
    assert explanation.image_index is None
    np.testing.assert_array_equal(explanation.class_index, [2, 1, 0, 2])
    np.testing.assert_allclose(explanation.heatmaps[0], gradcam_by_hand(model, 2)[0], atol=1e-4)


@pytest.mark.parametrize(
    ("class_index", "activation", "units", "message"),
    [
        ("positive", "softmax", 3, r'Expected "positive" only for sigmoid.*activation softmax'),
        ("all", "sigmoid", 3, r'Expected None, an int, a list of ints or "positive"'),
        ([[0], [1], [2]], "sigmoid", 3, r"Expected one list of classes for all images, or one"),
        ([[0.5]], "sigmoid", 3, r"Expected lists of integers, one per image"),
        (None, "unknown", 1, r'Expected the class of each image.*score="output"'),
    ],
)
def test_bad_requests(class_index, activation, units, message):
    with pytest.raises(ValueError, match=r"argument `class_index`. " + message):
        expand_findings(class_index, 2, units, activation, lambda: np.zeros((2, units)))


@pytest.mark.parametrize("threshold", [0.0, 1.5, [0.5, 0.5]])
def test_bad_thresholds(threshold):
    with pytest.raises(ValueError, match=r"argument `threshold`. Expected a number in \(0, 1\)"):
        expand_findings("positive", 2, 3, "sigmoid", lambda: np.zeros((2, 3)), threshold)


def test_requests_become_rows():
    probabilities = np.array([[0.9], [0.2]])
    rows, classes = expand_findings("positive", 2, 1, "sigmoid", lambda: probabilities)
    assert rows.tolist() == [0] and classes.tolist() == [1]  # a single unit's class 1
    rows, classes = expand_findings([[1, 0]], 2, 3, "softmax", None)  # broadcast to all
    assert rows.tolist() == [0, 0, 1, 1] and classes.tolist() == [1, 0, 1, 0]
    # A flat list names findings only on a multi-label head; elsewhere it is per image.
    assert expand_findings([1, 0], 2, 3, "softmax", None) == (None, [1, 0])


def test_out_of_range_findings_are_refused(model):
    with pytest.raises(ValueError, match=r"argument `class_index`. Expected indices in \[0, 2\]"):
        GradCAM(model).explain(IMAGES, class_index=[0, 3])


def test_the_examples_in_the_docstrings_run():
    result = doctest.testmod(findings, extraglobs={"keras_cxr": keras_cxr})
    assert result.attempted >= 3 and result.failed == 0
