"""`calibrate_on_validation`: the temperature and the decision threshold, fitted on validation.

After training, the pipeline fits the temperature of temperature scaling on the validation
logits (`keras_cxr.metrics.fit_temperature`), then chooses the decision threshold for the
operating point on the *calibrated* validation probabilities
(`keras_cxr.metrics.select_threshold`). Both go into the model file, as the metadata keys
`"temperature"` and `"threshold"`, with the operating point's spec as `"operating_point"`;
`keras-cxr evaluate`, `explain` and `report` apply them unchanged.

A k-class model (the three-class task) gets its temperature the same way, fitted on its
softmax logits (`calibrate_multiclass_on_validation`); it has no threshold (the arg-max
decides, and `T` never moves it), and its ECE is the top-label (confidence) one
(`keras_cxr.metrics.top_label_calibration_error`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keras_cxr._validation import shape_error
from keras_cxr.metrics import expected_calibration_error, top_label_calibration_error
from keras_cxr.metrics.operating_point import OperatingPoint, parse_operating_point
from keras_cxr.metrics.temperature_scaling import fit_temperature, negative_log_likelihood
from keras_cxr.metrics.threshold_selection import select_threshold
from keras_cxr.models.prediction import positive_probability
from keras_cxr.models.temperature import DEFAULT_TEMPERATURE, apply_temperature


@dataclass
class ValidationCalibration:
    """The temperature and threshold fitted on validation, with the calibration they give.

    Attributes:
        temperature: Fitted `T` (1 when calibration is off).
        operating_point: The spec the threshold was chosen for, e.g. `"sensitivity:0.95"`;
            `"argmax"` for a k-class model.
        threshold: Decision threshold on the calibrated probability of the positive class;
            None for a k-class model.
        probabilities: float64 calibrated validation probabilities: `(N,)` of the
            positive class, or `(N, k)` for a k-class model.
        ece_before: Validation ECE at `T = 1` (top-label for a k-class model).
        ece_after: Validation ECE at the fitted `T`.
        nll_before: Validation NLL at `T = 1`.
        nll_after: Validation NLL at the fitted `T`.

    Example:
        >>> calibration = keras_cxr.training.calibrating.calibrate_on_validation(y, logits)
        >>> calibration.metadata()["temperature"]
        1.83
    """

    temperature: float
    operating_point: str
    threshold: float | None
    probabilities: np.ndarray = field(repr=False)
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float

    def metadata(self) -> dict[str, Any]:
        """The model-file metadata: `temperature`, `operating_point`, `threshold`, `calibration`.

        Returns:
            A JSON-friendly dict to merge into the metadata of `keras_cxr.models.save_model`;
            `"calibration"` holds the validation ECE and NLL before and after.

        Example:
            >>> sorted(calibration.metadata())
            ['calibration', 'operating_point', 'temperature', 'threshold']
        """
        return {
            "temperature": self.temperature,
            "operating_point": self.operating_point,
            "threshold": self.threshold,
            "calibration": {
                "split": "validation",
                "ece_before": self.ece_before,
                "ece_after": self.ece_after,
                "nll_before": self.nll_before,
                "nll_after": self.nll_after,
            },
        }


def calibrate_on_validation(
    labels: np.ndarray,
    logits: np.ndarray,
    operating_point: str | OperatingPoint = "youden",
    calibrate: bool = True,
) -> ValidationCalibration:
    """Fits the temperature on validation logits, then the threshold on calibrated outputs.

    Args:
        labels: Validation labels in {0, 1}, shape (N,), both classes present.
        logits: The model's validation logits, `(N,)`, `(N, 1)` (sigmoid) or `(N, 2)`
            (softmax); see `keras_cxr.models.predict_logits`.
        operating_point: Spec or `keras_cxr.metrics.OperatingPoint` for the threshold.
            Defaults to "youden".
        calibrate: Fit the temperature; False keeps `T = 1`. Defaults to True.

    Returns:
        A `ValidationCalibration`.

    Raises:
        ValueError: For a bad operating point, labels with one class, or logits that do
            not match the labels.

    Example:
        >>> calibration = keras_cxr.training.calibrating.calibrate_on_validation(
        ...     y_val, logits_val, "sensitivity:0.95")
        >>> calibration.threshold
    """
    point = parse_operating_point(operating_point)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    logits = np.asarray(logits, np.float64)
    fitted_logits = _fitted_logits(logits)
    temperature = fit_temperature(labels, fitted_logits) if calibrate else DEFAULT_TEMPERATURE
    before = positive_probability_of(logits, DEFAULT_TEMPERATURE)
    after = positive_probability_of(logits, temperature)
    return ValidationCalibration(
        temperature=temperature,
        operating_point=point.spec,
        threshold=select_threshold(labels, after, point),
        probabilities=after,
        ece_before=expected_calibration_error(labels, before),
        ece_after=expected_calibration_error(labels, after),
        nll_before=negative_log_likelihood(labels, fitted_logits),
        nll_after=negative_log_likelihood(labels, fitted_logits, temperature),
    )


def calibrate_multiclass_on_validation(
    labels: np.ndarray, logits: np.ndarray, calibrate: bool = True
) -> ValidationCalibration:
    """Fits the temperature of a k-class softmax on its validation logits.

    The decision stays the arg-max (no threshold); the probabilities, their confidence
    and the top-label ECE change with `T`.

    Args:
        labels: Validation class indices in [0, k), shape (N,).
        logits: The model's validation logits, `(N, k)` (`keras_cxr.models.predict_logits`).
        calibrate: Fit the temperature; False keeps `T = 1`. Defaults to True.

    Returns:
        A `ValidationCalibration` with `threshold=None`, `operating_point="argmax"` and
        `(N, k)` probabilities.

    Raises:
        ValueError: For logits that are not `(N, k)` with k >= 2, or labels that are not
            class indices matching them.

    Example:
        >>> calibration = keras_cxr.training.calibrating.calibrate_multiclass_on_validation(
        ...     y_val, logits_val)
        >>> calibration.temperature, calibration.ece_after
        (1.42, 0.031)
    """
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise shape_error("logits", "an (N, k) array of softmax logits, k >= 2", logits.shape)
    temperature = fit_temperature(labels, logits) if calibrate else DEFAULT_TEMPERATURE
    before = apply_temperature(logits, DEFAULT_TEMPERATURE)
    after = apply_temperature(logits, temperature)
    return ValidationCalibration(
        temperature=temperature,
        operating_point="argmax",
        threshold=None,
        probabilities=after,
        ece_before=top_label_calibration_error(labels, before),
        ece_after=top_label_calibration_error(labels, after),
        nll_before=negative_log_likelihood(labels, logits),
        nll_after=negative_log_likelihood(labels, logits, temperature),
    )


def positive_probability_of(logits: np.ndarray, temperature: float) -> np.ndarray:
    """The positive-class probability from `(N,)`, `(N, 1)` or `(N, 2)` logits at `temperature`.

    Args:
        logits: Logits of a binary model.
        temperature: `T > 0`.

    Returns:
        float64 `(N,)`.

    Example:
        >>> keras_cxr.training.calibrating.positive_probability_of(np.zeros((2, 1)), 2.0)
        array([0.5, 0.5])
    """
    logits = np.asarray(logits, np.float64)
    if logits.ndim == 1:
        logits = logits[:, None]
    return positive_probability(apply_temperature(logits, temperature))


def _fitted_logits(logits: np.ndarray) -> np.ndarray:
    """The logits as `fit_temperature` takes them: a column is one sigmoid unit."""
    return logits[:, 0] if logits.ndim == 2 and logits.shape[1] == 1 else logits
