"""The shift-aware validation: metrics on the patient split, its cohort mix and shifted copies.

A patient-split validation is drawn like the training images, and on Kermany et al. it
said accuracy 0.98 and specificity 0.97 for a model that reached 0.885 and 0.73 on the
independent test split, where normals of the `NORMAL2` cohort are more common and the
images differ in exposure. `ShiftValidation` grades a trained model, beside the patient
split, on

- each normal cohort alone (`keras_cxr.data.image_cohort`),
- the validation images with the test split's cohort mix
  (`keras_cxr.data.cohort_matched_subset`, 70 % `NORMAL2` among normals),
- intensity-, contrast-, gamma- and blur-shifted copies of the validation images
  (`keras_cxr.data.shifted_copies`), with their mean and worst case,

and can choose the decision threshold on the patient split and the shifted copies
pooled, which holds up better when normals look different at test time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data.cohorts import TEST_NORMAL2_SHARE, cohort_matched_subset, image_cohort
from keras_cxr.data.image_splits import ImageSet
from keras_cxr.data.shifted import describe_shifts, shifted_copies
from keras_cxr.metrics import classification_report, select_threshold
from keras_cxr.models.prediction import predict_logits
from keras_cxr.models.temperature import DEFAULT_TEMPERATURE
from keras_cxr.training.calibrating import positive_probability_of
from keras_cxr.training.data_parallel import padded

if TYPE_CHECKING:
    from keras_cxr.training.stages import Run

#: Where `TrainConfig.threshold_data` may choose the threshold.
THRESHOLD_DATA = ("validation", "shifted")
#: The metrics each row of the report keeps.
ROW_METRICS = ("accuracy", "sensitivity", "specificity", "roc_auc", "ece")
#: The name of the unshifted validation images in `ShiftValidation.probabilities`.
PATIENT = "patient"


@dataclass
class ShiftValidation:
    """A model's probabilities on the validation images and on their shifted copies.

    Attributes:
        labels: int64 `(N,)` validation labels.
        cohorts: The naming cohort of each validation image.
        probabilities: `"patient"` (the images as they are) and each shifted copy's
            name → float64 `(N,)` pneumonia probabilities.
        cohort: The cohort whose share the cohort-matched row sets.
        share: That share among normals.
        seed: Seed of the `"mixed"` copy and of the cohort-matched subset.

    Example:
        >>> shift = keras_cxr.training.ShiftValidation.measure(predict, splits.val, p_val)
        >>> report = shift.report(threshold=0.4)
        >>> report["worst_shifted"]["specificity"]
        0.81
    """

    labels: np.ndarray
    cohorts: list[str]
    probabilities: dict[str, np.ndarray]
    cohort: str = "NORMAL2"
    share: float = TEST_NORMAL2_SHARE
    seed: int = 0
    shifts: list[dict[str, Any]] = field(default_factory=describe_shifts)

    @classmethod
    def measure(
        cls,
        predict: Callable[[np.ndarray], np.ndarray],
        val: ImageSet,
        val_probability: np.ndarray | None = None,
        seed: int = 0,
    ) -> ShiftValidation:
        """Predicts the validation images' shifted copies (and the images, unless given).

        Args:
            predict: Maps `(N, H, W, C)` pixels to `(N,)` pneumonia probabilities, e.g.
                `lambda x: keras_cxr.models.predict_probabilities(model, x)`.
            val: The validation images.
            val_probability: `predict(val.images)` when the caller has it already.
            seed: Seed of the `"mixed"` copy and the cohort-matched subset. Defaults to 0.

        Returns:
            A `ShiftValidation`.

        Example:
            >>> shift = keras_cxr.training.ShiftValidation.measure(
            ...     lambda x: keras_cxr.models.predict_probabilities(model, x), splits.val)
        """
        probabilities = {
            PATIENT: np.asarray(
                predict(val.images) if val_probability is None else val_probability, np.float64
            )
        }
        for name, images in shifted_copies(val.images, seed=seed).items():
            probabilities[name] = np.asarray(predict(images), np.float64)
        cohorts = [image_cohort(str(path)) for path in val.paths]
        return cls(np.asarray(val.labels, np.int64), cohorts, probabilities, seed=seed)

    def threshold(self, method: str = "youden", data: str = "validation") -> float:
        """A decision threshold chosen on the validation images, or on them and the copies.

        Args:
            method: A `keras_cxr.metrics.select_threshold` method. Defaults to "youden".
            data: `"validation"` (the images as they are) or `"shifted"` (the images and
                every shifted copy, pooled). Defaults to "validation".

        Returns:
            The threshold.

        Raises:
            ValueError: For an unknown `data` or `method`.

        Example:
            >>> shift.threshold("youden", "shifted")
            0.46
        """
        if data not in THRESHOLD_DATA:
            raise invalid_value("data", f"one of {list(THRESHOLD_DATA)}", data)
        if data == "validation":
            return select_threshold(self.labels, self.probabilities[PATIENT], method)
        names = list(self.probabilities)
        labels = np.concatenate([self.labels] * len(names))
        scores = np.concatenate([self.probabilities[name] for name in names])
        return select_threshold(labels, scores, method)

    def report(self, threshold: float) -> dict[str, Any]:
        """The shift-aware validation at one threshold, as a JSON-friendly dict.

        Args:
            threshold: `p >= threshold` is pneumonia.

        Returns:
            A dict with `"threshold"`; `"patient"` (the validation images) and
            `"cohort_matched"` (None when the split's normals are of one cohort) rows of
            `ROW_METRICS` plus `"n"`; `"cohort_specificity"` (cohort → specificity and
            count of its normals); `"shifted"` (copy name → row); `"mean_shifted"` and
            `"worst_shifted"` (the mean, and the worst value, of each metric over the
            copies: the least accuracy, sensitivity, specificity and AUC, the largest
            ECE); and `"shifts"` (what each copy is).

        Example:
            >>> shift.report(0.4)["cohort_matched"]["specificity"]
            0.93
        """
        graded = self._graded(
            lambda labels, scores: _row(labels, scores, threshold),
            self.probabilities[PATIENT] >= threshold,
            ROW_METRICS,
        )
        return {"threshold": float(threshold), **graded}

    def _graded(
        self,
        row: Callable[[np.ndarray, np.ndarray], dict[str, float]],
        called_pneumonia: np.ndarray,
        metrics: tuple[str, ...],
    ) -> dict[str, Any]:
        """The rows of `report`, each made by `row(labels, scores)`, and the cohorts' rows.

        Args:
            row: Maps labels and scores (of the patient images, a subset or a copy) to a
                dict of `metrics` plus `"n"`.
            called_pneumonia: bool `(N,)`: the patient images the model calls pneumonia.
            metrics: The metric names of a row; the worst of `"ece"` is its largest
                value, of any other the least.

        Returns:
            The dict `report` describes, without `"threshold"`.
        """
        patient = self.probabilities[PATIENT]
        subset = cohort_matched_subset(
            self.labels, self.cohorts, self.cohort, self.share, self.seed
        )
        shifted = {
            name: row(self.labels, scores)
            for name, scores in self.probabilities.items()
            if name != PATIENT
        }
        return {
            PATIENT: row(self.labels, patient),
            "cohort_matched": (
                None
                if subset is None
                else {
                    **row(self.labels[subset], patient[subset]),
                    "cohort": self.cohort,
                    "share": self.share,
                }
            ),
            "cohort_specificity": self._cohort_specificity(called_pneumonia),
            "shifted": shifted,
            "mean_shifted": _summary(shifted, np.nanmean, metrics),
            "worst_shifted": _summary(shifted, None, metrics),
            "shifts": self.shifts,
        }

    def _cohort_specificity(self, called: np.ndarray) -> dict[str, dict[str, float]]:
        normal = self.labels == 0
        cohorts = np.asarray(self.cohorts)
        rows = {}
        for cohort in sorted(set(cohorts[normal].tolist())):
            members = normal & (cohorts == cohort)
            rows[cohort] = {
                "n": int(members.sum()),
                "specificity": float(1 - called[members].mean()),
            }
        return rows


def measure_shift(
    run: Run, val_probability: np.ndarray, temperature: float = DEFAULT_TEMPERATURE
) -> ShiftValidation:
    """The shift-aware validation of a trained run (`ShiftValidation.measure` on its model).

    Args:
        run: The run, after its stages (`keras_cxr.training.stages.Run`).
        val_probability: The model's (calibrated) probabilities on the validation images.
        temperature: The temperature the copies' logits are calibrated with, the one
            `val_probability` was. Defaults to 1.

    Returns:
        A `ShiftValidation` seeded with `run.config.seed`.

    Example:
        >>> shift = keras_cxr.training.shift_validation.measure_shift(run, p_val)
    """

    predict = run_predictor(run, lambda logits: positive_probability_of(logits, temperature))
    return ShiftValidation.measure(predict, run.splits.val, val_probability, run.config.seed)


def run_predictor(
    run: Run, calibrate: Callable[[np.ndarray], np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """Pixels → `calibrate(logits)` of the run's model, batch by batch, on its devices.

    Args:
        run: The run, after its stages.
        calibrate: Maps the model's `(N, units)` logits to the probabilities to grade.

    Returns:
        A `predict` for `ShiftValidation.measure`.

    Example:
        >>> predict = keras_cxr.training.shift_validation.run_predictor(
        ...     run, lambda logits: keras_cxr.models.apply_temperature(logits, 1.4))
    """

    def predict(images: np.ndarray) -> np.ndarray:
        batch = padded(images, run.devices)
        logits = predict_logits(run.model, batch, run.config.batch_size)[: len(images)]
        return calibrate(logits)

    return predict


def format_shift_report(report: dict[str, Any]) -> str:
    """The shift-aware validation as a plain-text table, one row per split or copy.

    Args:
        report: `ShiftValidation.report`, or a k-class model's
            `keras_cxr.training.multiclass_shift.MulticlassShiftValidation.report`, whose
            `"columns"` name its metrics.

    Returns:
        Lines of `name  accuracy  sensitivity  specificity  roc_auc  ece` (of the
        report's `"columns"` for a k-class model), then the specificity of each cohort's
        normals.

    Example:
        >>> print(keras_cxr.training.format_shift_report(shift.report(0.4)))
    """
    columns = tuple(report.get("columns", ROW_METRICS))
    labels = [column.replace("sensitivity_", "sens. ") for column in columns]
    widths = [max(12, len(label) + 2) for label in labels]
    header = f"{'shift-aware validation':<24}" + "".join(
        f"{label:>{width}}" for label, width in zip(labels, widths)
    )
    rows = [(PATIENT, report[PATIENT])]
    if report.get("cohort_matched") is not None:
        rows.append(
            (f"cohort mix {report['cohort_matched']['share']:.0%}", report["cohort_matched"])
        )
    rows += list(report["shifted"].items())
    rows += [
        ("mean of shifted", report["mean_shifted"]),
        ("worst shifted", report["worst_shifted"]),
    ]
    lines = [header]
    for name, row in rows:
        lines.append(f"{name:<24}" + "".join(f"{row[m]:>{w}.3f}" for m, w in zip(columns, widths)))
    for cohort, row in report["cohort_specificity"].items():
        lines.append(f"specificity of {cohort} normals ({row['n']}): {row['specificity']:.3f}")
    return "\n".join(lines)


def _row(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    metrics = classification_report(labels, scores, threshold)
    return {"n": int(metrics["n"]), **{name: float(metrics[name]) for name in ROW_METRICS}}


def _summary(
    rows: dict[str, dict[str, float]], reduce, metrics: tuple[str, ...] = ROW_METRICS
) -> dict[str, float]:
    if not rows:
        return dict.fromkeys(metrics, float("nan"))
    summary = {}
    for name in metrics:
        values = np.asarray([row[name] for row in rows.values()], np.float64)
        if reduce is not None:
            summary[name] = float(reduce(values))
        else:
            summary[name] = float(np.nanmax(values) if name == "ece" else np.nanmin(values))
    return summary
