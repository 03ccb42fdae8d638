"""Metrics for chest X-ray classifiers and their explanations.

- `keras_cxr.metrics.classification`: sensitivity, specificity, PPV/NPV, ROC/AUC,
  calibration and threshold selection for binary diagnosis.
- `keras_cxr.metrics.localization`: pointing game, energy inside a mask and top-k IoU
  between heatmaps and annotated regions.
- `keras_cxr.metrics.faithfulness`: deletion/insertion curves and Average Drop/Increase,
  which probe the model through any `predict_fn`.
- `keras_cxr.metrics.sanity`: model and data randomization sanity checks, with Spearman
  rank correlation and SSIM between heatmaps.

Functions that take heatmaps accept a NumPy array of shape (N, H, W) or any object with a
`.heatmaps` attribute, so this package does not depend on the explainer. Only
`randomize_model` and `model_randomization_test` use Keras, imported when first called.
"""

from keras_cxr.metrics.classification import (
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    npv,
    ppv,
    reliability_curve,
    roc_auc,
    roc_curve,
    select_threshold,
    sensitivity,
    specificity,
)
from keras_cxr.metrics.faithfulness import (
    average_drop,
    average_increase,
    curve_auc,
    deletion_auc,
    deletion_curve,
    insertion_auc,
    insertion_curve,
)
from keras_cxr.metrics.localization import energy_in_mask, pointing_game, top_k_iou
from keras_cxr.metrics.sanity import (
    label_randomization,
    model_randomization_test,
    randomize_model,
    spearman_rank_correlation,
    ssim,
)

__all__ = [
    "average_drop",
    "average_increase",
    "classification_report",
    "confusion_matrix",
    "curve_auc",
    "deletion_auc",
    "deletion_curve",
    "energy_in_mask",
    "expected_calibration_error",
    "insertion_auc",
    "insertion_curve",
    "label_randomization",
    "model_randomization_test",
    "npv",
    "pointing_game",
    "ppv",
    "randomize_model",
    "reliability_curve",
    "roc_auc",
    "roc_curve",
    "select_threshold",
    "sensitivity",
    "spearman_rank_correlation",
    "specificity",
    "ssim",
    "top_k_iou",
]
