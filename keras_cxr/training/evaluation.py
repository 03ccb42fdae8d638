"""`evaluate_model`: accuracy, sensitivity, specificity, PPV, NPV, ROC AUC and calibration.

Every metric comes with its patient-level bootstrap interval
(`keras_cxr.metrics.classification_intervals`), and the probabilities are those of the
model calibrated by the temperature stored with it (`keras_cxr.models.stored_temperature`);
the ECE and the Brier score are also given before calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import keras
import numpy as np

from keras_cxr.metrics import (
    Interval,
    brier_score,
    classification_intervals,
    classification_report,
    expected_calibration_error,
    reliability_curve,
    roc_curve,
)
from keras_cxr.metrics.bootstrap import DEFAULT_RESAMPLES, bootstrap_settings
from keras_cxr.models.temperature import DEFAULT_TEMPERATURE
from keras_cxr.training.calibrating import positive_probability_of
from keras_cxr.training.evaluation_files import EvaluationFiles
from keras_cxr.training.multiclass_evaluation import (
    THREE_CLASS_NAMES,
    MulticlassEvaluation,
    evaluate_multiclass,
    labels_and_logits,
)
from keras_cxr.viz import plots

PLOT_FILES = {
    "roc": "roc.png",
    "reliability": "reliability.png",
    "confusion_matrix": "confusion_matrix.png",
}


@dataclass
class Evaluation(EvaluationFiles):
    """The metrics of a binary classifier on labelled images, and the curves behind them.

    Attributes:
        labels: int64 `(N,)` true labels.
        probabilities: float64 `(N,)` predicted probability of pneumonia.
        threshold: Decision threshold applied (`p >= threshold` is pneumonia).
        metrics: `keras_cxr.metrics.classification_report` at `threshold` (accuracy,
            sensitivity, specificity, ppv, npv, roc_auc, ece, brier, confusion_matrix, n,
            n_positive, threshold), plus `threshold_source`, `temperature`,
            `operating_point`, `ece_uncalibrated`, `brier_uncalibrated`, `intervals`
            (metric → `Interval.to_dict()`) and `bootstrap` (resamples, confidence, unit,
            groups).
        roc: `(fpr, tpr, thresholds)` from `keras_cxr.metrics.roc_curve`, or None with a
            single class.
        reliability: `(confidence, accuracy, counts)` of the reliability diagram.
        class_names: Class names, `("NORMAL", "PNEUMONIA")`.
        temperature: The temperature applied to the logits.
        uncalibrated: float64 `(N,)` probabilities at temperature 1, or None.
        intervals: Metric name → `keras_cxr.metrics.Interval`; empty without bootstrap.

    Example:
        >>> evaluation = keras_cxr.training.evaluate_model(model, x_test, y_test, 0.42)
        >>> evaluation.metrics["sensitivity"]
        0.95
        >>> evaluation.save("runs/eval")
    """

    PLOT_FILES: ClassVar[dict[str, str]] = PLOT_FILES

    labels: np.ndarray
    probabilities: np.ndarray
    threshold: float
    metrics: dict[str, Any]
    roc: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(repr=False)
    reliability: tuple[np.ndarray, np.ndarray, np.ndarray] = field(repr=False)
    class_names: tuple[str, ...] = ("NORMAL", "PNEUMONIA")
    temperature: float = DEFAULT_TEMPERATURE
    uncalibrated: np.ndarray | None = field(default=None, repr=False)
    intervals: dict[str, Interval] = field(default_factory=dict, repr=False)

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
        before = None
        if self.uncalibrated is not None and self.temperature != DEFAULT_TEMPERATURE:
            curve = reliability_curve(self.labels, self.uncalibrated, len(self.reliability[2]))
            before = (*curve, self.metrics["ece_uncalibrated"])
        figures["reliability"] = plots.reliability_figure(
            *self.reliability, self.metrics["ece"], before=before
        )
        figures["confusion_matrix"] = plots.confusion_figure(
            self.metrics["confusion_matrix"], self.class_names
        )
        return figures


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
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    groups: list[str] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    operating_point: str | None = None,
) -> Evaluation | MulticlassEvaluation:
    """Evaluates a binary pneumonia classifier at a fixed decision threshold.

    The threshold and the temperature should come from the validation split
    (`keras_cxr.training.train` stores both in the model file, see
    `keras_cxr.models.read_metadata`); choosing either on the images evaluated here would
    make the metrics optimistic. The model's logits are divided by `temperature` before
    the sigmoid; the ECE and Brier score at temperature 1 are kept as
    `ece_uncalibrated` and `brier_uncalibrated`. Every scalar metric gets a percentile
    bootstrap interval over `n_resamples` resamples of whole patients (`groups`).

    A model with k >= 3 softmax outputs (the three-class task) is evaluated by
    `keras_cxr.training.multiclass_evaluation.evaluate_multiclass` instead: the decision is
    the arg-max of the probabilities calibrated by `temperature`, the intervals are those
    of `keras_cxr.metrics.multiclass_intervals`; the threshold and `n_bins` are not used,
    and the result is a `MulticlassEvaluation` (class names NORMAL, BACTERIAL, VIRAL unless
    `class_names` has k names).

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
        temperature: Temperature of the logits (`keras_cxr.models.stored_temperature`).
            Defaults to 1 (uncalibrated).
        groups: Patient of each image (`ImageSet.patients`), resampled whole by the
            bootstrap; None counts every image as its own patient.
        n_resamples: Bootstrap resamples; 0 skips the intervals. Defaults to 1000.
        confidence: Coverage of the intervals. Defaults to 0.95.
        seed: Seed of the bootstrap. Defaults to 0.
        operating_point: The operating point the threshold was chosen for, stored in
            the metrics for the record (never re-chosen here). Defaults to None.

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
        return evaluate_multiclass(
            model, images, labels, class_names, batch_size, progress, temperature,
            groups=groups, n_resamples=n_resamples, confidence=confidence, seed=seed,
        )  # fmt: skip
    labels, temperature, logits = labels_and_logits(
        model, images, labels, temperature, batch_size, progress
    )
    probabilities = positive_probability_of(logits, temperature)
    uncalibrated = positive_probability_of(logits, DEFAULT_TEMPERATURE)
    metrics = classification_report(labels, probabilities, threshold, n_bins)
    metrics.update(
        threshold_source=threshold_source,
        temperature=float(temperature),
        operating_point=operating_point,
        ece_uncalibrated=expected_calibration_error(labels, uncalibrated, n_bins),
        brier_uncalibrated=brier_score(labels, uncalibrated),
    )
    intervals = {}
    if n_resamples:
        intervals = classification_intervals(
            labels, probabilities, threshold, groups, n_resamples, confidence, seed, n_bins
        )
        metrics["intervals"] = {name: interval.to_dict() for name, interval in intervals.items()}
        metrics["bootstrap"] = bootstrap_settings(n_resamples, confidence, groups, len(labels))
    both = labels.min() != labels.max()
    return Evaluation(
        labels=labels,
        probabilities=probabilities,
        threshold=float(threshold),
        metrics=metrics,
        roc=roc_curve(labels, probabilities) if both else None,
        reliability=reliability_curve(labels, probabilities, n_bins),
        class_names=tuple(class_names),
        temperature=float(temperature),
        uncalibrated=uncalibrated,
        intervals=intervals,
    )
