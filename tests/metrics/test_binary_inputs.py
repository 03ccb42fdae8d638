"""The label and score checks that every binary classification metric shares."""

import re

import pytest

from keras_cxr.metrics import classification_report, roc_auc, sensitivity

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


@pytest.mark.parametrize(
    ("y_true", "y_score", "message"),
    [
        (
            [0, 1, 1],
            [0.1, 0.2],
            "Expected a 1-D array of shape (3,), like `y_true`. Received: y_score.shape=(2,)",
        ),
        (
            [0, 2],
            [0.1, 0.2],
            "`y_true`. Expected binary labels in {0, 1}. Received: y_true='values [0, 2]'",
        ),
        ([0, 1], [0.1, float("nan")], "`y_score`. Expected finite values (no NaN or inf)"),
        ([], [], "Expected a non-empty 1-D array of shape (N,). Received: y_true.shape=(0,)"),
        ([[0, 1], [1, 0]], [0.1, 0.2], "Received: y_true.shape=(2, 2)"),
    ],
)
@pytest.mark.parametrize("metric", [sensitivity, roc_auc, classification_report])
def test_rejects_bad_labels_and_scores(metric, y_true, y_score, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        metric(y_true, y_score)
