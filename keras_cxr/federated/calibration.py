"""`calibrate_across_sites`: temperature and threshold fitted on what sites may share.

The pipeline fits the temperature and the decision threshold on the validation logits
(`keras_cxr.training.calibrate_on_validation`). In a federation no site's images leave it,
but one logit and one label per validation image can: the server pools them and fits both
exactly as `train` does, so the final model file carries the same `temperature`,
`threshold` and `operating_point` metadata as a centrally trained one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from keras_cxr.metrics import classification_report
from keras_cxr.training.calibrating import (
    ValidationCalibration,
    calibrate_on_validation,
    positive_probability_of,
)


def calibrate_across_sites(
    site_logits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    operating_point: str = "youden",
    calibrate: bool = True,
) -> tuple[ValidationCalibration, dict[str, dict]]:
    """Fits the temperature and threshold on the sites' pooled validation logits.

    Args:
        site_logits: Site name → `(labels (N,), logits (N,))` of its validation images
            under the final global model (`keras_cxr.federated.site_logits`).
        operating_point: Spec of the threshold (`keras_cxr.metrics.operating_point`).
            Defaults to "youden".
        calibrate: Fit the temperature; False keeps `T = 1`. Defaults to True.

    Returns:
        `(calibration, per_site)`: the `keras_cxr.training.ValidationCalibration` of the
        pooled logits, and each site's `keras_cxr.metrics.classification_report` at the
        fitted temperature and threshold.

    Raises:
        ValueError: For no sites, or pooled labels with one class.

    Example:
        >>> import numpy as np
        >>> logits = {"a": (np.array([0, 1, 0]), np.array([-2.0, 1.0, 0.5])),
        ...           "b": (np.array([1, 0]), np.array([3.0, -1.0]))}
        >>> calibration, per_site = keras_cxr.federated.calibrate_across_sites(logits)
        >>> calibration.threshold is not None, sorted(per_site)
        (True, ['a', 'b'])
    """
    if not site_logits:
        raise ValueError("calibrate_across_sites needs the validation logits of at least one site.")
    labels = np.concatenate([np.asarray(y).reshape(-1) for y, _ in site_logits.values()])
    logits = np.concatenate(
        [np.asarray(z, np.float64).reshape(-1) for _, z in site_logits.values()]
    )
    if len(set(labels.tolist())) < 2:
        raise ValueError(
            "The sites' pooled validation labels hold one class; the threshold needs both. "
            "Give the sites validation images of both classes."
        )
    calibration = calibrate_on_validation(labels, logits, operating_point, calibrate)
    per_site = {
        name: classification_report(
            y, positive_probability_of(z, calibration.temperature), calibration.threshold
        )
        for name, (y, z) in site_logits.items()
    }
    return calibration, per_site


__all__ = ["calibrate_across_sites"]
