"""The explaining SavedModel, reloaded by TensorFlow alone: its heatmaps are Grad-CAM's."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_cxr
from keras_cxr.export import EXPLAIN_OUTPUTS, explaining_function

from .conftest import SIZE, THRESHOLD


@pytest.fixture(scope="module")
def served(exported):
    """The `serving_default` and `predict` signatures of the reloaded explaining export."""
    loaded = tf.saved_model.load(str(exported("explaining-savedmodel").path))
    return loaded.signatures


def test_the_served_heatmaps_are_gradcams_of_the_decided_class(served, loaded_model, images):
    answer = served["serving_default"](image=tf.constant(images))
    outputs = {key: value.numpy() for key, value in answer.items()}
    assert sorted(outputs) == sorted(EXPLAIN_OUTPUTS)
    probability = loaded_model.predict(images, verbose=0)[:, 0]
    decision = (probability >= THRESHOLD).astype("int32")
    assert 0 < decision.sum() < len(decision)  # both classes are explained
    reference = keras_cxr.GradCAM(loaded_model).explain(images, class_index=decision)
    assert outputs["heatmap"].shape == (16, SIZE, SIZE)
    assert np.abs(outputs["heatmap"] - reference.heatmaps).max() <= 1e-4
    assert np.abs(outputs["probability"] - probability).max() <= 1e-4
    assert np.array_equal(outputs["decision"], decision)
    assert np.abs(outputs["score"] - reference.scores).max() <= 1e-4
    assert reference.heatmaps.std() > 0.05  # real maps, not constants


def test_the_predict_signature_returns_the_probabilities(served, loaded_model, images):
    (probabilities,) = served["predict"](image=tf.constant(images)).values()
    expected = loaded_model.predict(images, verbose=0)
    assert np.abs(probabilities.numpy() - expected).max() <= 1e-4


def test_the_check_and_metadata_of_the_export(exported):
    result = exported("explaining-savedmodel")
    assert set(result.differences) == set(EXPLAIN_OUTPUTS)
    assert result.max_abs_diff <= 1e-4
    assert result.metadata["method"] == "gradcam"
    assert result.metadata["threshold"] == THRESHOLD


def test_only_cam_methods_and_valid_thresholds_are_accepted(loaded_model):
    with pytest.raises(ValueError, match=r"argument `method`\. Expected a CAM method"):
        explaining_function(loaded_model, method="saliency")
    with pytest.raises(ValueError, match=r"argument `threshold`\. Expected a float in"):
        explaining_function(loaded_model, threshold=-0.1)
