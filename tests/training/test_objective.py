"""`keras_cxr.training.objective`: the loss and metrics of binary and k-class runs."""

import keras
import numpy as np
import pytest

from keras_cxr.metrics import multiclass_report
from keras_cxr.training.objective import OneVsRestAUC, objective


def _probabilities(rng, n, k):
    logits = rng.normal(size=(n, k))
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_one_vs_rest_auc_is_the_macro_auc_of_the_report():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    probabilities = _probabilities(rng, 300, 3)
    probabilities[np.arange(300), labels] += 0.3  # some skill
    metric = OneVsRestAUC(3, num_thresholds=2000)
    metric.update_state(labels[:, None].astype("float32"), probabilities.astype("float32"))
    expected = multiclass_report(labels, probabilities)["macro_roc_auc"]
    assert float(metric.result()) == pytest.approx(expected, abs=2e-3)


def test_sample_weights_count_each_case_once_per_class():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 120)
    probabilities = _probabilities(rng, 120, 3).astype("float32")
    repeated = OneVsRestAUC(3, num_thresholds=500)
    repeated.update_state(np.repeat(labels, 2), np.repeat(probabilities, 2, axis=0))
    weighted = OneVsRestAUC(3, num_thresholds=500)
    weighted.update_state(labels, probabilities, sample_weight=np.full(120, 2.0, "float32"))
    assert float(weighted.result()) == pytest.approx(float(repeated.result()), abs=1e-6)


def test_objectives_and_config():
    loss, metrics = objective(1)
    assert loss == "binary_crossentropy"
    assert [type(m) for m in metrics] == [keras.metrics.AUC, keras.metrics.BinaryAccuracy]
    loss, metrics = objective(3)
    assert loss == "sparse_categorical_crossentropy"
    assert [m.name for m in metrics] == ["auc", "accuracy"]
    revived = OneVsRestAUC.from_config(metrics[0].get_config())
    assert (revived.num_classes, revived.name) == (3, "auc")
    with pytest.raises(ValueError, match="argument `num_classes`"):
        OneVsRestAUC(1)
