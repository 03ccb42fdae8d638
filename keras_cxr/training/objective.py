"""The loss and the logged metrics of a training run: binary, or k classes with sparse labels.

Every stage logs `loss`, `auc` and `accuracy` (and their `val_` twins), which `monitor`,
the checkpoints and `history.csv` read. A binary model has a sigmoid unit and binary
cross-entropy; a k-class model has k softmax units, sparse categorical cross-entropy on
the same `(batch, 1)` integer labels, the arg-max accuracy, and `auc` is the macro
average of the k one-vs-rest ROC AUCs (`OneVsRestAUC`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


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
        **kwargs: Passed to `keras.metrics.AUC` (e.g. `num_thresholds`).

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
        The loss name and the metrics named `auc` and `accuracy`.

    Example:
        >>> loss, metrics = keras_cxr.training.objective.objective(3)
        >>> loss, [metric.name for metric in metrics]
        ('sparse_categorical_crossentropy', ['auc', 'accuracy'])
    """
    if num_classes == 1:
        metrics = [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")]
        return "binary_crossentropy", metrics
    metrics = [
        OneVsRestAUC(num_classes),
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
    ]
    return "sparse_categorical_crossentropy", metrics
