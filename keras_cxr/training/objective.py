"""The loss and the logged metrics of a training run: binary, or k classes with sparse labels.

Every stage logs `loss`, `auc` and `accuracy` (and their `val_` twins), which `monitor`,
the checkpoints and `history.csv` read. A binary model has a sigmoid unit and binary
cross-entropy; a k-class model has k softmax units, sparse categorical cross-entropy on
the same `(batch, 1)` integer labels, the arg-max accuracy, and `auc` is the macro
average of the k one-vs-rest ROC AUCs (`OneVsRestAUC`).

Both AUCs count the outputs against thresholds spaced evenly in *logit* space
(`auc_thresholds`), not Keras's 200 evenly spaced probabilities: a fine-tuned network
puts most of its outputs within 1e-4 of 0 or 1, where 200 probability thresholds tie them
and the logged `val_auc` fell 0.014 below the exact value (0.983 against 0.997 on the same
weights and images, pretrained recipe, seed 2).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

#: The logit range and count of `auc_thresholds`: float32 tells probabilities apart up
#: to a logit of about ±16.6, beyond which they round to exactly 0 or 1.
LOGIT_RANGE, THRESHOLD_COUNT = 16.0, 1001


def auc_thresholds() -> list[float]:
    """Thresholds for a streaming AUC, spaced evenly in logit space from -16 to 16.

    Returns:
        The distinct float32 sigmoids of `THRESHOLD_COUNT` evenly spaced logits, sorted,
        all strictly between 0 and 1 (Keras adds its own end points).

    Example:
        >>> thresholds = keras_cxr.training.objective.auc_thresholds()
        >>> len(thresholds) > 900, thresholds[0] < 1e-6, thresholds[-1] > 1 - 1e-6
        (True, True, True)
    """
    logits = np.linspace(-LOGIT_RANGE, LOGIT_RANGE, THRESHOLD_COUNT)
    probabilities = np.unique((1.0 / (1.0 + np.exp(-logits))).astype(np.float32))
    return [float(t) for t in probabilities if 0.0 < t < 1.0]


@keras.saving.register_keras_serializable(package="keras_cxr")
class OneVsRestAUC(keras.metrics.AUC):
    """The mean of the k one-vs-rest ROC AUCs of a softmax output, from class-index labels.

    `keras.metrics.AUC(multi_label=True)` averages one AUC per column but wants one-hot
    labels; this metric takes the `(batch,)` or `(batch, 1)` class indices that sparse
    categorical cross-entropy takes and one-hot encodes them. It is the streaming
    (thresholded) counterpart of `keras_cxr.metrics.multiclass_report`'s `macro_roc_auc`.

    Args:
        num_classes: Number of classes k, >= 2.
        name: Metric name. Defaults to "auc", the name the pipeline monitors.
        **kwargs: Passed to `keras.metrics.AUC` (e.g. `num_thresholds` or `thresholds`).

    Returns:
        A Keras metric.

    Raises:
        ValueError: If `num_classes` < 2.

    Example:
        >>> model.compile("adam", "sparse_categorical_crossentropy",
        ...               metrics=[keras_cxr.training.objective.OneVsRestAUC(3)])
    """

    def __init__(self, num_classes: int, name: str = "auc", **kwargs: Any) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                "Invalid value received for argument `num_classes`. Expected an int >= 2. "
                f"Received: num_classes={num_classes!r}"
            )
        super().__init__(name=name, multi_label=True, num_labels=num_classes, **kwargs)
        self.num_classes = num_classes

    def update_state(self, y_true, y_pred, sample_weight=None):
        indices = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        y_true = ops.one_hot(indices, self.num_classes)
        if sample_weight is not None:
            # One weight per case, the same for each of its k columns.
            sample_weight = ops.reshape(sample_weight, (-1, 1)) * ops.ones_like(y_true)
        return super().update_state(y_true, y_pred, sample_weight)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("multi_label", "num_labels", "label_weights", "from_logits"):
            config.pop(key, None)
        return {**config, "num_classes": self.num_classes}


def objective(num_classes: int) -> tuple[str, list[keras.metrics.Metric]]:
    """`(loss, metrics)` for `compile`: binary for 1 output unit, sparse k-class otherwise.

    Args:
        num_classes: The model's output units: 1 (sigmoid) or k >= 3 (softmax).

    Returns:
        The loss name and the metrics named `auc` (on `auc_thresholds`) and `accuracy`.

    Example:
        >>> loss, metrics = keras_cxr.training.objective.objective(3)
        >>> loss, [metric.name for metric in metrics]
        ('sparse_categorical_crossentropy', ['auc', 'accuracy'])
    """
    if num_classes == 1:
        metrics = [
            keras.metrics.AUC(name="auc", thresholds=auc_thresholds()),
            keras.metrics.BinaryAccuracy(name="accuracy"),
        ]
        return "binary_crossentropy", metrics
    metrics = [
        OneVsRestAUC(num_classes, thresholds=auc_thresholds()),
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
    ]
    return "sparse_categorical_crossentropy", metrics


__all__ = ["LOGIT_RANGE", "THRESHOLD_COUNT", "OneVsRestAUC", "auc_thresholds", "objective"]
