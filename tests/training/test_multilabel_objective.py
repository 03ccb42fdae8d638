"""Masked, per-finding weighted binary cross-entropy, and the per-finding thresholds.

Backend-sensitive (keras.ops on NaN labels): run it under KERAS_BACKEND=jax and torch too.
"""

from __future__ import annotations

import doctest

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_curve

import keras_cxr
from keras_cxr.metrics import select_threshold
from keras_cxr.models import read_metadata, save_model
from keras_cxr.training import (
    MaskedBinaryCrossentropy,
    finding_class_weights,
    finding_metadata,
    multilabel_objective,
    select_finding_thresholds,
)
from keras_cxr.training import finding_thresholds as finding_thresholds_module

LABELS = np.array([[1, 0, np.nan], [0, -1, 1], [np.nan, 1, 0], [0, 0, 0]], np.float32)
PROBABILITIES = np.array(
    [[0.9, 0.2, 0.5], [0.3, 0.6, 0.7], [0.1, 0.8, 0.4], [0.2, 0.3, 0.1]], np.float32
)


def reference_loss(labels, probabilities, positive=None, negative=None):
    """The mean over known entries of the weighted cross-entropy, written out in loops."""
    total, count = 0.0, 0
    for row_labels, row_probabilities in zip(labels, probabilities):
        for k, (y, p) in enumerate(zip(row_labels, row_probabilities)):
            if np.isnan(y) or y == -1:
                continue
            weight = (
                (positive[k] if positive else 1.0) if y == 1 else (negative[k] if negative else 1.0)
            )
            total += -weight * (y * np.log(p) + (1 - y) * np.log(1 - p))
            count += 1
    return total / max(count, 1)


@pytest.mark.parametrize(
    ("positive", "negative"),
    [(None, None), ([2.0, 1.0, 3.0], None), ([2.0, 1.0, 3.0], [0.5, 0.75, 1.5])],
)
def test_loss_matches_a_loop_over_the_known_labels(positive, negative):
    loss = MaskedBinaryCrossentropy(positive, negative)
    value = float(keras.ops.convert_to_numpy(loss(LABELS, PROBABILITIES)))
    assert value == pytest.approx(
        reference_loss(LABELS, PROBABILITIES, positive, negative), rel=1e-5
    )


def test_without_masks_or_weights_it_is_keras_binary_crossentropy():
    labels = np.nan_to_num(LABELS, nan=0.0)
    labels[labels == -1] = 1
    expected = keras.losses.BinaryCrossentropy()(labels, PROBABILITIES)
    value = MaskedBinaryCrossentropy()(labels, PROBABILITIES)
    assert float(keras.ops.convert_to_numpy(value)) == pytest.approx(
        float(keras.ops.convert_to_numpy(expected)), rel=1e-5
    )


def test_unknown_labels_get_no_gradient_and_an_all_unknown_batch_costs_nothing():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(inputs))
    model.compile(keras.optimizers.SGD(0.5), MaskedBinaryCrossentropy([2.0, 1.0, 1.0]))
    features = np.eye(3, dtype=np.float32)
    before = [w.copy() for w in model.get_weights()]
    unknown = np.full((3, 3), np.nan, np.float32)
    model.fit(features, unknown, epochs=1, batch_size=3, verbose=0)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    # Only finding 0 is known: only its column of the kernel and its bias move.
    only_first = np.array([[1, np.nan, np.nan]] * 3, np.float32)
    model.fit(features, only_first, epochs=1, batch_size=3, verbose=0)
    kernel, bias = model.get_weights()
    assert not np.allclose(kernel[:, 0], before[0][:, 0]) and bias[0] != before[1][0]
    np.testing.assert_array_equal(kernel[:, 1:], before[0][:, 1:])
    np.testing.assert_array_equal(bias[1:], before[1][1:])
    assert np.isfinite(model.evaluate(features, only_first, verbose=0))


def test_loss_round_trips_through_a_saved_model(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(inputs))
    model.compile("sgd", MaskedBinaryCrossentropy([2.0, 1.0, 3.0], [0.5, 0.75, 1.5]))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.loss.get_config()["positive_weights"] == [2.0, 1.0, 3.0]
    assert loaded.loss.get_config()["negative_weights"] == [0.5, 0.75, 1.5]


def test_bad_weights_are_named():
    with pytest.raises(ValueError, match=r"argument `positive_weights`. Expected a non-empty"):
        MaskedBinaryCrossentropy([1.0, -2.0])
    with pytest.raises(ValueError, match=r"argument `negative_weights`. Expected one weight per"):
        MaskedBinaryCrossentropy([1.0, 2.0], [1.0])


def test_class_weights_balance_each_finding_by_hand():
    negative, positive = finding_class_weights(LABELS)
    # Finding 0: 3 known, 1 positive; finding 1: 3 known (-1 unknown), 1 positive;
    # finding 2: 3 known, 1 positive.
    np.testing.assert_allclose(positive, [1.5, 1.5, 1.5])
    np.testing.assert_allclose(negative, [0.75, 0.75, 0.75])
    negative, positive = finding_class_weights([[1, 0], [1, 0], [0, 0], [0, 0]])
    np.testing.assert_allclose(positive, [1.0, 1.0])  # finding 1 has no positive: weight 1
    np.testing.assert_allclose(negative, [1.0, 1.0])
    with pytest.raises(ValueError, match=r"argument `labels`. Expected labels in \{0, 1\}"):
        finding_class_weights([[2, 0]])


def test_thresholds_are_chosen_per_finding_on_the_known_labels():
    rng = np.random.default_rng(0)
    labels = (rng.random((120, 3)) < [0.1, 0.4, 0.0]).astype(np.float32)
    scores = np.clip(0.3 * labels + 0.7 * rng.random((120, 3)), 0, 1)
    labels[rng.random((120, 3)) < 0.2] = np.nan
    thresholds = select_finding_thresholds(labels, scores, ("A", "B", "C"), method="youden")
    for k, name in enumerate(("A", "B")):
        known = ~np.isnan(labels[:, k])
        expected = select_threshold(labels[known, k], scores[known, k], "youden")
        assert thresholds[name] == expected
        # Independent check: the threshold maximizes Youden's J on scikit-learn's ROC.
        fpr, tpr, cuts = roc_curve(labels[known, k], scores[known, k])
        best = np.max(tpr - fpr)
        chosen = np.flatnonzero(np.isclose(cuts, thresholds[name]))
        assert chosen.size and tpr[chosen[0]] - fpr[chosen[0]] == pytest.approx(best)
    assert thresholds["C"] == 0.5  # no positive in C: the fallback


def test_thresholds_travel_in_the_model_file(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(inputs))
    metadata = finding_metadata({"Nodule": 0.31, "Effusion": 0.62}, "youden")
    save_model(model, tmp_path / "model.keras", metadata)
    stored = read_metadata(tmp_path / "model.keras")
    assert stored["findings"] == ["Nodule", "Effusion"]
    assert stored["thresholds"] == {"Nodule": 0.31, "Effusion": 0.62}
    assert stored["task"] == "multilabel"


def test_bad_findings_are_named():
    with pytest.raises(ValueError, match=r"argument `findings`. Expected 3 distinct names"):
        select_finding_thresholds(LABELS, PROBABILITIES, ("A", "B"))


@pytest.mark.parametrize("module", [finding_thresholds_module])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, extraglobs={"keras_cxr": keras_cxr}, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_class_weight_example_runs():
    # The loss module's own example needs a model; its weights example is checked here.
    negative, positive = finding_class_weights([[1, 0], [0, 0], [0, 1], [0, np.nan]])
    assert negative.tolist() == [0.6666666865348816, 0.75] and positive.tolist() == [2.0, 1.5]
    assert multilabel_objective.__all__ == ["MaskedBinaryCrossentropy", "finding_class_weights"]
