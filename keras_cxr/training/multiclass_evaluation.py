"""`evaluate_multiclass`: a k-class classifier (normal / bacterial / viral) on labelled images.

The probabilities are the model's softmax logits divided by the temperature stored with it
(`keras_cxr.models.stored_temperature`, fitted on validation by `keras_cxr.training.train`);
the arg-max decision is the same at every temperature, the confidence and the top-label
ECE are not, so both ECEs (before and after) are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import keras
import numpy as np

from keras_cxr.data.labels import CLASS_NAMES
from keras_cxr.metrics import (
    Interval,
    multiclass_intervals,
    multiclass_report,
    pairwise_report,
    top_label_calibration_error,
)
from keras_cxr.metrics.bootstrap import DEFAULT_RESAMPLES, bootstrap_settings
from keras_cxr.models.prediction import predict_logits
from keras_cxr.models.temperature import DEFAULT_TEMPERATURE, apply_temperature, check_temperature
from keras_cxr.training.evaluation_files import EvaluationFiles
from keras_cxr.viz import plots

#: The three-class task's names, whose BACTERIAL and VIRAL get a pairwise report.
THREE_CLASS_NAMES = CLASS_NAMES["three_class"]
PLOT_FILES = {"confusion_matrix": "confusion_matrix.png"}
#: The pair of classes the three-class task also tells apart, as `multiclass_intervals` names it.
PAIRS = {"bacterial_vs_viral": (1, 2)}


def multiclass_metrics(
    labels: np.ndarray, probabilities: np.ndarray, class_names: tuple[str, ...]
) -> dict[str, Any]:
    """`keras_cxr.metrics.multiclass_report`, plus bacterial vs viral for the three-class task.

    With the class names NORMAL, BACTERIAL, VIRAL, `"bacterial_vs_viral"` holds
    `keras_cxr.metrics.pairwise_report` among the pneumonia images (the number Kermany et
    al. give: accuracy 90.7 %, AUC 0.940), and `"n_positive"` the pneumonia count.
    `"ece"` is the top-label (confidence) ECE
    (`keras_cxr.metrics.top_label_calibration_error`).

    Args:
        labels: `(N,)` true class indices.
        probabilities: `(N, k)` class probabilities in [0, 1].
        class_names: Name of each class.

    Returns:
        The JSON-friendly metrics dict.

    Raises:
        ValueError: For invalid inputs, see `keras_cxr.metrics.multiclass_report`.

    Example:
        >>> metrics = keras_cxr.training.multiclass_evaluation.multiclass_metrics(
        ...     y_val, p_val, ("NORMAL", "BACTERIAL", "VIRAL"))
        >>> metrics["macro_f1"], metrics["bacterial_vs_viral"]["accuracy"]
    """
    metrics = multiclass_report(labels, probabilities, class_names)
    metrics["n_positive"] = int(np.sum(np.asarray(labels).reshape(-1) != 0))
    metrics["ece"] = top_label_calibration_error(labels, probabilities)
    if tuple(class_names) == THREE_CLASS_NAMES:
        metrics["bacterial_vs_viral"] = pairwise_report(labels, probabilities, (1, 2))
    return metrics


@dataclass
class MulticlassEvaluation(EvaluationFiles):
    """The metrics of a k-class classifier on labelled images, decided by the arg-max.

    Attributes:
        labels: int64 `(N,)` true labels.
        probabilities: float64 `(N, k)` predicted class probabilities, calibrated by
            `temperature`.
        metrics: `multiclass_metrics`: accuracy, macro-F1, macro one-vs-rest AUC, the
            k × k confusion matrix, per-class sensitivity, specificity, PPV, F1 and AUC,
            the top-label ECE, and (three-class task) bacterial vs viral; plus
            `"temperature"` and `"ece_uncalibrated"` (the ECE at `T = 1`).
        class_names: The class names.
        temperature: The temperature applied to the logits.
        intervals: Metric name → `keras_cxr.metrics.Interval`
            (`keras_cxr.metrics.multiclass_intervals`: overall, `"<class>/<metric>"` and
            `"bacterial_vs_viral/<metric>"`); empty without bootstrap.

    Example:
        >>> evaluation = keras_cxr.training.evaluate_model(three_class_model, x, y)
        >>> evaluation.metrics["per_class"]["VIRAL"]["sensitivity"]
        >>> evaluation.save("runs/evaluate")
    """

    PLOT_FILES: ClassVar[dict[str, str]] = PLOT_FILES

    labels: np.ndarray
    probabilities: np.ndarray
    metrics: dict[str, Any]
    class_names: tuple[str, ...]
    temperature: float = DEFAULT_TEMPERATURE
    threshold: None = None  # the decision is the arg-max; no threshold
    intervals: dict[str, Interval] = field(default_factory=dict, repr=False)

    def _value(self, name: str, value: float) -> Any:
        """`value`, or its interval as text when there is one (for the tables)."""
        return str(self.intervals[name]) if name in self.intervals else value

    @property
    def predictions(self) -> np.ndarray:
        """int64 `(N,)` predicted classes, the arg-max."""
        return self.probabilities.argmax(axis=1).astype(np.int64)

    @property
    def confidence(self) -> np.ndarray:
        """float64 `(N,)` probability of the predicted class."""
        return self.probabilities.max(axis=1)

    def figures(self) -> dict[str, Any]:
        """The k × k confusion matrix as a matplotlib figure, under `"confusion_matrix"`."""
        matrix = self.metrics["confusion_matrix"]
        return {"confusion_matrix": plots.confusion_figure(matrix, self.class_names)}

    def report_sections(self) -> tuple[dict[str, Any], dict[str, tuple[list, list]]]:
        """`(metrics, tables)` for `keras_cxr.viz.report.render_html_report`.

        The metrics are the overall ones (and bacterial vs viral); the tables are the
        per-class one-vs-rest table and the k × k confusion matrix.
        """
        m = self.metrics
        metrics: dict[str, Any] = {
            "n": m["n"],
            "decision": "arg-max of the class probabilities (no threshold)",
            "accuracy": self._value("accuracy", m["accuracy"]),
            "macro-F1": self._value("macro_f1", m["macro_f1"]),
            "macro one-vs-rest ROC AUC": self._value("macro_roc_auc", m["macro_roc_auc"]),
            "balanced accuracy (macro sensitivity)": self._value(
                "macro_sensitivity", m["macro_sensitivity"]
            ),
            "top-label ECE": m["ece"],
            "top-label ECE before calibration": m["ece_uncalibrated"],
            "temperature": m["temperature"],
        }
        pair = m.get("bacterial_vs_viral")
        if pair is not None:
            metrics[f"bacterial vs viral accuracy ({pair['n']} pneumonia images)"] = self._value(
                "bacterial_vs_viral/accuracy", pair["accuracy"]
            )
            metrics["bacterial vs viral ROC AUC"] = self._value(
                "bacterial_vs_viral/roc_auc", pair["roc_auc"]
            )
        columns = ["class", "n", "sensitivity", "specificity", "PPV", "F1", "ROC AUC (vs rest)"]
        rows = [
            [
                name,
                r["n"],
                self._value(f"{name}/sensitivity", r["sensitivity"]),
                self._value(f"{name}/specificity", r["specificity"]),
                r["ppv"],
                r["f1"],
                self._value(f"{name}/roc_auc", r["roc_auc"]),
            ]
            for name, r in m["per_class"].items()
        ]
        confusion = [
            [f"true {name}", *counts]
            for name, counts in zip(self.class_names, m["confusion_matrix"])
        ]
        tables = {
            "Per class (one vs rest)": (columns, rows),
            "Confusion matrix (rows true, columns predicted)": (
                ["", *(f"predicted {name}" for name in self.class_names)],
                confusion,
            ),
        }
        return metrics, tables

    def summary(self) -> str:
        """A few lines for the terminal: overall metrics, then one line per class."""
        m = self.metrics
        lines = [
            f"{m['n']} images, decision = arg-max of the {len(self.class_names)} classes:",
            f"  accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  macro one-vs-rest "
            f"ROC AUC {m['macro_roc_auc']:.4f}",
            f"  top-label ECE {m['ece']:.4f} at temperature {m['temperature']:.3f} (before "
            f"calibration {m['ece_uncalibrated']:.4f})",
            f"  {'class':<10} {'n':>5} {'sens.':>7} {'spec.':>7} {'PPV':>7} {'F1':>7} {'AUC':>7}",
        ]
        for name, row in m["per_class"].items():
            lines.append(
                f"  {name:<10} {row['n']:>5} {row['sensitivity']:>7.4f} "
                f"{row['specificity']:>7.4f} {row['ppv']:>7.4f} {row['f1']:>7.4f} "
                f"{row['roc_auc']:>7.4f}"
            )
        header = " ".join(f"{name[:9]:>9}" for name in self.class_names)
        lines.append(f"  confusion (rows true, columns predicted): {header}")
        for name, row in zip(self.class_names, m["confusion_matrix"]):
            lines.append(f"    {name:<38}" + " ".join(f"{count:>9}" for count in row))
        pair = m.get("bacterial_vs_viral")
        if pair is not None:
            lines.append(
                f"  bacterial vs viral ({pair['n']} pneumonia images): accuracy "
                f"{pair['accuracy']:.4f}, ROC AUC {pair['roc_auc']:.4f} "
                "(Kermany et al.: 0.907, 0.940)"
            )
        bootstrap = m.get("bootstrap")
        if self.intervals and bootstrap:
            lines.append(
                f"  {bootstrap['confidence']:.0%} bootstrap intervals over "
                f"{bootstrap['resamples']} resamples of {bootstrap['groups']} "
                f"{bootstrap['unit']}s:"
            )
            lines += [f"    {name:<30} {interval}" for name, interval in self.intervals.items()]
        return "\n".join(lines)


def labels_and_logits(
    model: keras.Model,
    images: np.ndarray,
    labels: Any,
    temperature: float,
    batch_size: int,
    progress: bool,
) -> tuple[np.ndarray, float, np.ndarray]:
    """The checked labels and temperature, and the model's logits on `images`.

    The first step of the binary and the k-class evaluation alike.

    Args:
        model: The classifier.
        images: `(N, H, W, C)` raw pixels matching the model's input.
        labels: `(N,)` (or `(N, 1)`) true class indices.
        temperature: Temperature of the logits, checked here.
        batch_size: Images per forward pass.
        progress: Show a progress bar.

    Returns:
        `(labels, temperature, logits)`: int64 `(N,)` labels, the temperature as a float,
        and the `(N, units)` logits.

    Raises:
        ValueError: If images and labels differ in length, or `temperature` is not a
            finite number > 0.

    Example:
        >>> labels, temperature, logits = labels_and_logits(model, x, y, 1.0, 32, False)
        >>> logits.shape
        (624, 3)
    """
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if len(labels) != len(images):
        raise ValueError(
            f"Invalid value received for argument `labels`. Expected one label per image "
            f"({len(images)}). Received: len(labels)={len(labels)}"
        )
    temperature = check_temperature(temperature)
    logits = predict_logits(model, images, batch_size, progress)
    return labels, temperature, logits


def evaluate_multiclass(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...] = THREE_CLASS_NAMES,
    batch_size: int = 32,
    progress: bool = False,
    temperature: float = DEFAULT_TEMPERATURE,
    *,
    groups: list[str] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> MulticlassEvaluation:
    """Evaluates a k-class softmax classifier; the decision is the arg-max.

    The probabilities are `softmax(logits / temperature)`; the top-label ECE at
    `temperature` 1 is kept as `"ece_uncalibrated"`.

    Args:
        model: A model with a `(batch, k)` softmax output, k >= 3.
        images: `(N, H, W, C)` raw pixels matching the model's input.
        labels: `(N,)` true class indices.
        class_names: Name of each class. Defaults to NORMAL, BACTERIAL, VIRAL.
        batch_size: Images per forward pass. Defaults to 32.
        progress: Show a progress bar. Defaults to False.
        temperature: Temperature of the logits (`keras_cxr.models.stored_temperature`).
            Defaults to 1 (uncalibrated).
        groups: Patient of each image (`ImageSet.patients`), resampled whole by the
            bootstrap; None counts every image as its own patient.
        n_resamples: Bootstrap resamples of `keras_cxr.metrics.multiclass_intervals`; 0
            skips the intervals. Defaults to 1000.
        confidence: Coverage of the intervals. Defaults to 0.95.
        seed: Seed of the bootstrap. Defaults to 0.

    Returns:
        A `keras_cxr.training.multiclass_evaluation.MulticlassEvaluation`, with
        `metrics["intervals"]` and `metrics["bootstrap"]` unless `n_resamples` is 0.

    Raises:
        ValueError: If images and labels differ in length, the labels are not class
            indices, `class_names` has not one name per output, or the images do not match
            the model's input shape, or `temperature` is not a finite number > 0.

    Example:
        >>> evaluation = keras_cxr.training.multiclass_evaluation.evaluate_multiclass(
        ...     model, test.images, test.labels)
        >>> print(evaluation.summary())
    """
    labels, temperature, logits = labels_and_logits(
        model, images, labels, temperature, batch_size, progress
    )
    probabilities = apply_temperature(logits, temperature)
    metrics = multiclass_metrics(labels, probabilities, tuple(class_names))
    metrics.update(
        temperature=temperature,
        ece_uncalibrated=top_label_calibration_error(labels, apply_temperature(logits)),
    )
    intervals = {}
    if n_resamples:
        pairs = PAIRS if tuple(class_names) == THREE_CLASS_NAMES else None
        intervals = multiclass_intervals(
            labels, probabilities, tuple(class_names), groups, n_resamples, confidence, seed,
            pairs,
        )  # fmt: skip
        metrics["intervals"] = {name: interval.to_dict() for name, interval in intervals.items()}
        metrics["bootstrap"] = bootstrap_settings(n_resamples, confidence, groups, len(labels))
    return MulticlassEvaluation(
        labels,
        probabilities,
        metrics,
        tuple(class_names),
        temperature=temperature,
        intervals=intervals,
    )
