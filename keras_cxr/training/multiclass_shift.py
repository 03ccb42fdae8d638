"""The shift-aware validation of a k-class model (normal / bacterial / viral), by the arg-max.

The same rows as `keras_cxr.training.ShiftValidation` (the patient split, the test split's
cohort mix, each normal cohort, the intensity-, contrast-, gamma- and blur-shifted copies
with their mean and worst case), graded with the k-class metrics of
`keras_cxr.training.multiclass_evaluation.multiclass_metrics`: accuracy, macro-F1, macro
one-vs-rest ROC AUC, the top-label ECE and each class's sensitivity. There is no threshold
to choose: the arg-max decides. A cohort's "specificity" is the share of its normals that
are not called pneumonia (of any cause), as for the binary task.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_cxr.models.temperature import DEFAULT_TEMPERATURE, apply_temperature
from keras_cxr.training.multiclass_evaluation import THREE_CLASS_NAMES, multiclass_metrics
from keras_cxr.training.shift_validation import PATIENT, ShiftValidation, run_predictor

if TYPE_CHECKING:
    from keras_cxr.training.stages import Run

#: The overall metrics each row of a k-class report keeps (then one sensitivity per class).
MULTICLASS_ROW_METRICS = ("accuracy", "macro_f1", "macro_roc_auc", "ece")


@dataclass
class MulticlassShiftValidation(ShiftValidation):
    """A k-class model's probabilities on the validation images and their shifted copies.

    As `keras_cxr.training.ShiftValidation`, with `(N, k)` class probabilities under each
    name of `probabilities` and the class names of their columns.

    Attributes:
        class_names: Name of each class (column). Defaults to NORMAL, BACTERIAL, VIRAL.

    Example:
        >>> shift = keras_cxr.training.multiclass_shift.measure_multiclass_shift(run, p_val)
        >>> shift.report()["worst_shifted"]["macro_f1"]
        0.71
    """

    class_names: tuple[str, ...] = THREE_CLASS_NAMES

    def columns(self) -> tuple[str, ...]:
        """The metrics of a row: `MULTICLASS_ROW_METRICS`, then `sensitivity_<CLASS>`s."""
        return (*MULTICLASS_ROW_METRICS, *(f"sensitivity_{name}" for name in self.class_names))

    def threshold(self, method: str = "youden", data: str = "validation") -> float:
        """Refused: a k-class model is decided by the arg-max, with no threshold.

        Raises:
            ValueError: Always.
        """
        raise ValueError(
            "A k-class model is decided by the arg-max of its class probabilities; it has "
            f"no threshold to choose (method={method!r}, data={data!r}). Use `report()`."
        )

    def report(self, threshold: None = None) -> dict[str, Any]:
        """The shift-aware validation at the arg-max, as a JSON-friendly dict.

        Args:
            threshold: Must be None (there is no threshold); kept for the shape of
                `ShiftValidation.report`.

        Returns:
            The dict of `ShiftValidation.report`, with `"threshold": None`,
            `"decision": "argmax"`, `"class_names"` and `"columns"` (`columns()`); each
            row holds `"n"` and the `columns()` metrics; `"cohort_specificity"` is the
            share of each cohort's normals predicted NORMAL (class 0).

        Raises:
            ValueError: If a threshold is given.

        Example:
            >>> shift.report()["shifted"]["darker"]["accuracy"]
            0.83
        """
        if threshold is not None:
            raise ValueError(
                "Invalid value received for argument `threshold`. Expected None (a k-class "
                f"model is decided by the arg-max). Received: threshold={threshold}"
            )
        columns = self.columns()
        graded = self._graded(
            lambda labels, scores: _row(labels, scores, self.class_names),
            self.probabilities[PATIENT].argmax(axis=1) != 0,
            columns,
        )
        return {
            "threshold": None,
            "decision": "argmax",
            "class_names": list(self.class_names),
            "columns": list(columns),
            **graded,
        }


def measure_multiclass_shift(
    run: Run, val_probabilities: np.ndarray, temperature: float = DEFAULT_TEMPERATURE
) -> MulticlassShiftValidation:
    """The shift-aware validation of a trained k-class run.

    Args:
        run: The run, after its stages (`keras_cxr.training.stages.Run`).
        val_probabilities: The model's (calibrated) `(N, k)` probabilities on the
            validation images.
        temperature: The temperature the copies' logits are calibrated with, the one
            `val_probabilities` were. Defaults to 1.

    Returns:
        A `MulticlassShiftValidation` seeded with `run.config.seed`, with the run's class
        names.

    Example:
        >>> shift = keras_cxr.training.multiclass_shift.measure_multiclass_shift(run, p_val)
    """

    predict = run_predictor(run, lambda logits: apply_temperature(logits, temperature))
    shift = MulticlassShiftValidation.measure(
        predict, run.splits.val, val_probabilities, run.config.seed
    )
    return replace(shift, class_names=tuple(run.splits.class_names))


def _row(
    labels: np.ndarray, probabilities: np.ndarray, class_names: tuple[str, ...]
) -> dict[str, float]:
    metrics = multiclass_metrics(labels, probabilities, class_names)
    row = {
        "n": int(metrics["n"]),
        **{name: float(metrics[name]) for name in MULTICLASS_ROW_METRICS},
    }
    for name in class_names:
        row[f"sensitivity_{name}"] = float(metrics["per_class"][name]["sensitivity"])
    return row
