"""keras_cxr.explain.class_targets: class indices and the explained score, against numpy."""

import doctest

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import keras_cxr
from keras_cxr.explain import class_targets
from keras_cxr.explain.class_targets import (
    SCORE_MODES,
    apply_activation,
    check_class_index,
    num_classes_of,
    resolve_classes,
    select_scores,
)


def numpy_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def numpy_softmax(x):
    x = np.asarray(x, np.float64)
    exp = np.exp(x - x.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def logits_and_classes(units):
    """A batch of finite logits with `units` units, and valid resolved classes for it."""
    return st.integers(1, 6).flatmap(
        lambda batch: st.tuples(
            hnp.arrays(
                np.float32,
                (batch, units),
                elements=st.floats(-20, 20, width=32, allow_subnormal=False),
            ),
            hnp.arrays(np.int32, batch, elements=st.integers(0, num_classes_of(units) - 1)),
        )
    )


def test_the_examples_in_the_docstrings_run():
    result = doctest.testmod(class_targets, extraglobs={"keras_cxr": keras_cxr})
    assert result.attempted >= 8 and result.failed == 0


def test_score_modes():
    assert SCORE_MODES == ("logit", "probability", "output")


@given(st.integers(1, 1000))
def test_num_classes_of(units):
    assert num_classes_of(units) == (2 if units == 1 else units)


# ------------------------------------------------------------------ check_class_index
def test_none_means_the_predicted_class_of_every_image():
    got = check_class_index(None, 4, units=3)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [-1, -1, -1, -1])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 5), st.data())
def test_an_int_is_broadcast_and_a_sequence_kept(batch, units, data):
    index = data.draw(st.integers(0, num_classes_of(units) - 1))
    np.testing.assert_array_equal(check_class_index(index, batch, units), np.full(batch, index))
    np.testing.assert_array_equal(check_class_index(np.int64(index), batch, units), index)
    per_image = data.draw(
        st.lists(st.integers(0, num_classes_of(units) - 1), min_size=batch, max_size=batch)
    )
    for form in (per_image, tuple(per_image), np.array(per_image, np.int64)):
        got = check_class_index(form, batch, units)
        assert got.dtype == np.int32 and got.shape == (batch,)
        np.testing.assert_array_equal(got, per_image)


@pytest.mark.parametrize(
    ("class_index", "batch", "units", "message"),
    [
        (
            2,
            3,
            1,
            r"Expected indices in \[0, 1\] \(a single sigmoid unit has classes 0 = "
            r"negative and 1 = positive\)\. Received: class_index=2",
        ),
        (-1, 3, 1, r"Expected indices in \[0, 1\].*Received: class_index=-1"),
        ([0, 3], 2, 3, r"Expected indices in \[0, 2\]\. Received: class_index=\[0, 3\]"),
        (
            [0, 1, 1],
            2,
            3,
            r"Expected None, an int or one int per image \(2\); for several classes per "
            r"image, one list per image \(e\.g\. \[\[0, 3\], \[1\]\]\)\. "
            r"Received: class_index=\[0, 1, 1\]",
        ),
        ([[0], [1]], 2, 3, r"one int per image \(2\)"),
        (0.5, 2, 3, r"Expected integers\. Received: class_index=0\.5"),
        ([0.0, 1.0], 2, 3, r"Expected integers\. Received: class_index=\[0\.0, 1\.0\]"),
        (True, 2, 3, r"Expected integers\. Received: class_index=True"),
        ("1", 2, 3, r"Expected integers\. Received: class_index='1'"),
    ],
)
def test_bad_class_indices(class_index, batch, units, message):
    with pytest.raises(ValueError, match=r"Invalid value received for argument `class_index`"):
        check_class_index(class_index, batch, units)
    with pytest.raises(ValueError, match=message):
        check_class_index(class_index, batch, units)


# ------------------------------------------------------------------ resolve_classes
@settings(max_examples=30, deadline=None)
@given(st.integers(2, 5).flatmap(logits_and_classes), st.data())
def test_resolve_classes_takes_the_arg_max_where_asked(logits_classes, data):
    logits, explicit = logits_classes
    # Which of two equal logits is "the" arg-max differs between frameworks (Keras on CPU
    # picks 1 for [-0.0, 0.0], NumPy 0); ties have probability zero in a trained model.
    assume(all(len(set(row.tolist())) == len(row) for row in logits))
    predicted = data.draw(hnp.arrays(np.bool_, len(logits)))
    requested = np.where(predicted, -1, explicit).astype(np.int32)
    got = np.asarray(resolve_classes(logits, requested))
    np.testing.assert_array_equal(got, np.where(predicted, logits.argmax(axis=1), explicit))
    assert got.dtype == np.int32


@settings(max_examples=30, deadline=None)
@given(logits_and_classes(1), st.data())
def test_resolve_classes_of_a_sigmoid_unit_is_positive_above_a_zero_logit(logits_classes, data):
    logits, explicit = logits_classes
    # Which of two equal logits is "the" arg-max differs between frameworks (Keras on CPU
    # picks 1 for [-0.0, 0.0], NumPy 0); ties have probability zero in a trained model.
    assume(all(len(set(row.tolist())) == len(row) for row in logits))
    predicted = data.draw(hnp.arrays(np.bool_, len(logits)))
    requested = np.where(predicted, -1, explicit).astype(np.int32)
    got = np.asarray(resolve_classes(logits, requested))
    positive = (logits[:, 0] > 0).astype(np.int32)  # probability above one half
    np.testing.assert_array_equal(got, np.where(predicted, positive, explicit))


# ------------------------------------------------------------------ select_scores
@settings(max_examples=30, deadline=None)
@given(st.integers(2, 5).flatmap(logits_and_classes))
def test_scores_of_several_units(logits_classes):
    logits, classes = logits_classes
    rows = np.arange(len(logits))
    got_logit = np.asarray(select_scores(logits, classes, "logit", "softmax"))
    np.testing.assert_allclose(got_logit, logits[rows, classes], rtol=1e-6)
    got_probability = np.asarray(select_scores(logits, classes, "probability", "softmax"))
    np.testing.assert_allclose(
        got_probability, numpy_softmax(logits)[rows, classes], rtol=1e-5, atol=1e-7
    )
    # A sigmoid per unit (multi-label): each unit's own probability, not a softmax.
    for mode in ("probability", "output"):
        got = np.asarray(select_scores(logits, classes, mode, "sigmoid"))
        np.testing.assert_allclose(got, numpy_sigmoid(logits[rows, classes]), rtol=1e-5, atol=1e-7)
    # No activation, or one that cannot be told: the output as it is.
    for mode, activation in [("probability", None), ("output", None), ("output", "unknown")]:
        got = np.asarray(select_scores(logits, classes, mode, activation))
        np.testing.assert_allclose(got, logits[rows, classes], rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(logits_and_classes(1))
def test_scores_of_a_sigmoid_unit(logits_classes):
    logits, classes = logits_classes
    sign = np.where(classes == 1, 1.0, -1.0)
    got_logit = np.asarray(select_scores(logits, classes, "logit", "sigmoid"))
    np.testing.assert_allclose(got_logit, sign * logits[:, 0], rtol=1e-6)
    probability = numpy_sigmoid(logits[:, 0])
    got = np.asarray(select_scores(logits, classes, "probability", "sigmoid"))
    np.testing.assert_allclose(
        got, np.where(classes == 1, probability, 1 - probability), rtol=1e-5, atol=1e-6
    )
    assert got.dtype == np.float32
    # An output without a known activation is explained as it is, negated for class 0.
    got_raw = np.asarray(select_scores(logits, classes, "probability", None))
    np.testing.assert_allclose(got_raw, sign * logits[:, 0], rtol=1e-6)


def test_select_scores_by_hand():
    logits = np.array([[1.0, 2.0, 3.0]], "float32")
    probability = select_scores(logits, np.array([2], "int32"), "probability", "softmax")
    expected = np.exp(3.0) / (np.exp(1.0) + np.exp(2.0) + np.exp(3.0))
    np.testing.assert_allclose(np.asarray(probability), [expected], rtol=1e-6)


def test_float16_logits_give_float32_scores():
    logits = np.array([[0.5], [-1.5]], np.float16)
    got = np.asarray(select_scores(logits, np.array([1, 0], "int32"), "logit", "sigmoid"))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [0.5, 1.5])


# ------------------------------------------------------------------ apply_activation
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5).flatmap(logits_and_classes))
def test_apply_activation(logits_classes):
    logits, _ = logits_classes
    np.testing.assert_allclose(
        np.asarray(apply_activation(logits, "sigmoid")),
        numpy_sigmoid(logits),
        rtol=1e-5,
        atol=1e-7,
    )
    if logits.shape[1] > 1:  # a softmax over one unit is always 1 (and Keras warns)
        np.testing.assert_allclose(
            np.asarray(apply_activation(logits, "softmax")),
            numpy_softmax(logits),
            rtol=1e-5,
            atol=1e-7,
        )
    unchanged = np.asarray(apply_activation(logits, None))
    assert unchanged.dtype == np.float32
    np.testing.assert_array_equal(unchanged, logits)
