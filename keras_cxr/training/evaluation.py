"""`evaluate_model`: accuracy, sensitivity, specificity, PPV, NPV, ROC AUC and calibration."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_cxr.atomic import atomic_write, atomic_write_json
from keras_cxr.metrics import (
    classification_report,
    reliability_curve,
    roc_curve,
)
from keras_cxr.models.prediction import predict_probabilities
from keras_cxr.training.multiclass_evaluation import (
    THREE_CLASS_NAMES,
    MulticlassEvaluation,
    evaluate_multiclass,
)
from keras_cxr.viz import plots

METRICS_FILE = "metrics.json"
PLOT_FILES = {
    "roc": "roc.png",
    "reliability": "reliability.png",
    "confusion_matrix": "confusion_matrix.png",
}


@dataclass
class Evaluation:
    """The metrics of a binary classifier on labelled images, and the curves behind them.

    Attributes:
        labels: int64 `(N,)` true labels.
        probabilities: float64 `(N,)` predicted probability of pneumonia.
        threshold: Decision threshold applied (`p >= threshold` is pneumonia).
        metrics: `keras_cxr.metrics.classification_report` at `threshold` (accuracy,
            sensitivity, specificity, ppv, npv, roc_auc, ece, confusion_matrix, n,
            n_positive, threshold), plus `threshold_source`.
        roc: `(fpr, tpr, thresholds)` from `keras_cxr.metrics.roc_curve`, or None with a
            single class.
        reliability: `(confidence, accuracy, counts)` of the reliability diagram.
        class_names: Class names, `("NORMAL", "PNEUMONIA")`.

    Example:
        >>> evaluation = keras_cxr.training.evaluate_model(model, x_test, y_test, 0.42)
        >>> evaluation.metrics["sensitivity"]
        0.95
        >>> evaluation.save("runs/eval")
    """

    labels: np.ndarray
    probabilities: np.ndarray
    threshold: float
    metrics: dict[str, Any]
    roc: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(repr=False)
    reliability: tuple[np.ndarray, np.ndarray, np.ndarray] = field(repr=False)
    class_names: tuple[str, ...] = ("NORMAL", "PNEUMONIA")

    @property
    def predictions(self) -> np.ndarray:
        """int64 `(N,)` predicted labels at `threshold`."""
        return (self.probabilities >= self.threshold).astype(np.int64)

    def figures(self) -> dict[str, Any]:
        """The ROC curve, reliability diagram and confusion matrix as matplotlib figures.

        Returns:
            A dict with keys of `PLOT_FILES` ("roc" only with both classes present).
        """
        figures = {}
        if self.roc is not None:
            fpr, tpr, _ = self.roc
            point = (1 - self.metrics["specificity"], self.metrics["sensitivity"])
            figures["roc"] = plots.roc_figure(fpr, tpr, self.metrics["roc_auc"], point)
        figures["reliability"] = plots.reliability_figure(*self.reliability, self.metrics["ece"])
        figures["confusion_matrix"] = plots.confusion_figure(
            self.metrics["confusion_matrix"], self.class_names
        )
        return figures

    def save(self, out: str | os.PathLike, extra: dict[str, Any] | None = None) -> dict[str, Path]:
        """Writes `metrics.json` and the PNG plots into `out`, each file atomically.

        Args:
            out: Output folder, created if needed.
            extra: More JSON values stored in `metrics.json` (e.g. the model path).

        Returns:
            Name → path of every file written.

        Raises:
            OSError: If `out` cannot be written.
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, figure in self.figures().items():
            path = out / PLOT_FILES[name]
            atomic_write(path, lambda p, f=figure: f.savefig(p, format="png", dpi=110))
            written[name] = path
        written["metrics"] = atomic_write_json(
            out / METRICS_FILE,
            {**(extra or {}), **self.metrics, "plots": {k: v.name for k, v in written.items()}},
        )
        return written


def evaluate_model(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    threshold: float = 0.5,
    threshold_source: str = "given",
    batch_size: int = 32,
    n_bins: int = 10,
    progress: bool = False,
    class_names: tuple[str, ...] = ("NORMAL", "PNEUMONIA"),
) -> Evaluation | MulticlassEvaluation:
    """Evaluates a binary pneumonia classifier at a fixed decision threshold.

    A model with k >= 3 softmax outputs (the three-class task) is evaluated by
    `keras_cxr.training.multiclass_evaluation.evaluate_multiclass` instead: the decision is
    the arg-max, `threshold`, `threshold_source` and `n_bins` are not used, and the
    result is a `MulticlassEvaluation` (class names NORMAL, BACTERIAL, VIRAL unless
    `class_names` has k names).

    The threshold should come from the validation split (`keras_cxr.training.train` stores
    it in the model file, see `keras_cxr.models.read_metadata`); choosing it on the
    images evaluated here would make sensitivity and specificity optimistic.

    Args:
        model: A model with a `(batch, 1)` sigmoid or `(batch, k)` softmax output.
        images: `(N, H, W, C)` raw pixels matching the model's input.
        labels: `(N,)` true labels, 0 = NORMAL and 1 = PNEUMONIA.
        threshold: `p >= threshold` counts as pneumonia. Defaults to 0.5.
        threshold_source: Where the threshold came from, stored in the metrics (e.g.
            "validation"). Defaults to "given".
        batch_size: Images per forward pass. Defaults to 32.
        n_bins: Bins of the calibration error. Defaults to 10.
        progress: Show a progress bar. Defaults to False.
        class_names: Names of the two classes. Defaults to `("NORMAL", "PNEUMONIA")`.

    Returns:
        A `keras_cxr.training.Evaluation`, or a `MulticlassEvaluation` for k >= 3.

    Raises:
        ValueError: If images and labels differ in length, labels are not class indices, or the
            images do not match the model's input shape.

    Example:
        >>> evaluation = keras_cxr.training.evaluate_model(model, x_test, y_test, threshold=0.42)
        >>> round(evaluation.metrics["roc_auc"], 3)
        0.974
    """
    units = int(model.output_shape[-1] or 1)
    if units >= 3:
        if len(class_names) != units:
            class_names = THREE_CLASS_NAMES if units == 3 else tuple(map(str, range(units)))
        return evaluate_multiclass(model, images, labels, class_names, batch_size, progress)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if len(labels) != len(images):
        raise ValueError(
            f"Invalid value received for argument `labels`. Expected one label per image "
            f"({len(images)}). Received: len(labels)={len(labels)}"
        )
    probabilities = predict_probabilities(model, images, batch_size, progress)
    metrics = classification_report(labels, probabilities, threshold, n_bins)
    metrics["threshold_source"] = threshold_source
    both = labels.min() != labels.max()
    return Evaluation(
        labels=labels,
        probabilities=probabilities,
        threshold=float(threshold),
        metrics=metrics,
        roc=roc_curve(labels, probabilities) if both else None,
        reliability=reliability_curve(labels, probabilities, n_bins),
        class_names=tuple(class_names),
    )
