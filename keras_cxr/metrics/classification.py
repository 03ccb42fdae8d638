"""Moved: the binary classification metrics now live one concept per module.

`keras_cxr.metrics.confusion` (confusion matrix, sensitivity, specificity, PPV, NPV),
`keras_cxr.metrics.roc`, `keras_cxr.metrics.calibration`,
`keras_cxr.metrics.threshold_selection` and `keras_cxr.metrics.report`. Import them from
`keras_cxr.metrics`; this module only keeps older imports working.
"""

from keras_cxr.metrics.calibration import expected_calibration_error, reliability_curve
from keras_cxr.metrics.confusion import confusion_matrix, npv, ppv, sensitivity, specificity
from keras_cxr.metrics.report import classification_report
from keras_cxr.metrics.roc import roc_auc, roc_curve
from keras_cxr.metrics.threshold_selection import THRESHOLD_METHODS, select_threshold

__all__ = [
    "THRESHOLD_METHODS",
    "classification_report",
    "confusion_matrix",
    "expected_calibration_error",
    "npv",
    "ppv",
    "reliability_curve",
    "roc_auc",
    "roc_curve",
    "select_threshold",
    "sensitivity",
    "specificity",
]
