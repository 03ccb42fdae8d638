"""Metrics for chest X-ray classifiers and their explanations.

Classification, for binary diagnosis (labels 0 = normal, 1 = e.g. pneumonia):

- `keras_cxr.metrics.confusion`: the confusion matrix, sensitivity, specificity, PPV, NPV.
- `keras_cxr.metrics.roc`: the ROC curve and its AUC.
- `keras_cxr.metrics.calibration`: the reliability curve and the expected calibration error.
- `keras_cxr.metrics.brier`: the Brier score.
- `keras_cxr.metrics.temperature_scaling`: the temperature that calibrates the logits.
- `keras_cxr.metrics.operating_point` and `keras_cxr.metrics.threshold_selection`: the
  decision threshold, chosen on validation data for an operating point.
- `keras_cxr.metrics.bootstrap`: patient-level bootstrap confidence intervals.
- `keras_cxr.metrics.report`: all of the above at one threshold, with their intervals.
- `keras_cxr.metrics.multiclass`: k classes (normal / bacterial / viral): the k × k
  confusion matrix, one-vs-rest sensitivity, specificity and AUC, macro-F1; and
  `keras_cxr.metrics.multiclass_bootstrap`, their patient-level bootstrap intervals.
- `keras_cxr.metrics.precision_recall`: average precision, the area under the
  precision-recall curve.
- `keras_cxr.metrics.multilabel`: several findings per image (ChestX-ray14, CheXpert):
  per-finding AUC, average precision, sensitivity and specificity, macro and micro
  averages, unknown labels left out; `keras_cxr.metrics.multilabel_bootstrap`, their
  patient-level bootstrap intervals.
- `keras_cxr.metrics.uncertainty`: MC-dropout samples of a `keras_cxr.StackedEnsemble`.

Explanation quality:

- `keras_cxr.metrics.localization`: pointing game, energy inside a mask and top-k IoU
  between heatmaps and annotated regions.
- `keras_cxr.metrics.deletion_insertion` and `keras_cxr.metrics.average_drop_increase`:
  faithfulness, probed through a `predict_fn` (below); so are Quantus's faithfulness
  metrics `keras_cxr.metrics.pixel_flips` (pixel flipping),
  `keras_cxr.metrics.subset_correlation` (faithfulness correlation) and
  `keras_cxr.metrics.road_imputation` (ROAD, with noisy linear imputation).
- `keras_cxr.metrics.relevance_in_mask`: Quantus's localisation metrics (relevance mass and
  rank accuracy, attribution localisation, top-k intersection, the AUC of a map against
  its mask).
- `keras_cxr.metrics.leakage`: cross-finding leakage, the share of one finding's map that lands on
  another finding's mask.
- `keras_cxr.metrics.relevance_complexity`: sparseness (Gini), complexity (entropy) and
  effective complexity of a map.
- `keras_cxr.metrics.explanation_sensitivity`: max- and avg-sensitivity and the local
  Lipschitz estimate of an explainer under noise; `keras_cxr.metrics.relative_stability`,
  the relative input, output and representation stability of Agarwal et al.
- `keras_cxr.metrics.explanation_intervals`: `per_image_interval`, a patient-level
  bootstrap interval of any of them, from their `per_image=True` values.
- `keras_cxr.metrics.explanation_metrics`: `EXPLANATION_METRICS`, every explanation
  metric by name with its family and one way of calling it (what `keras-cxr
  evaluate-explanations` scores).
- `keras_cxr.metrics.model_randomization` and `keras_cxr.metrics.data_randomization`: the
  sanity checks of Adebayo et al., with the measures of `keras_cxr.metrics.similarity`
  (Spearman rank correlation, SSIM); `keras_cxr.metrics.parameter_randomization`, their
  smooth and efficient variants (sMPRT, eMPRT) of Hedström et al.; and
  `keras_cxr.metrics.off_class_similarity`, the random logit test.

Functions that take heatmaps accept a NumPy array of shape (N, H, W) or any object with a
`.heatmaps` attribute, so this package does not depend on the explainer. Only
`randomize_model`, `model_randomization_test`, `smooth_mprt`, `efficient_mprt` and
`mc_dropout_predict` use Keras; the sensitivity metrics and `random_logit` call an
explainer that they are given.

The `predict_fn` contract. The faithfulness metrics see the model only through
`predict_fn`, any callable mapping a float32 batch of shape (B, H, W, C) to scores of shape
(B, num_classes), or (B, 1) / (B,) for a single-unit sigmoid head. `class_index` picks the
score: a column of a (B, num_classes) output, or for a sigmoid head `class_index=1` for the
score p itself and `class_index=0` for 1 - p. For a Keras model, pass e.g.
`lambda batch: model.predict(batch, verbose=0)`. Images must already be in the form
`predict_fn` expects, and the "zero" and "mean" baselines are taken in that space. All
perturbed images are built chunk by chunk and sent to `predict_fn` in batches of at most
`batch_size` images.
"""

from keras_cxr.metrics.average_drop_increase import average_drop, average_increase
from keras_cxr.metrics.bootstrap import Interval, bootstrap_intervals
from keras_cxr.metrics.brier import brier_score
from keras_cxr.metrics.calibration import expected_calibration_error, reliability_curve
from keras_cxr.metrics.confusion import confusion_matrix, npv, ppv, sensitivity, specificity
from keras_cxr.metrics.data_randomization import label_randomization
from keras_cxr.metrics.deletion_insertion import (
    curve_auc,
    deletion_auc,
    deletion_curve,
    insertion_auc,
    insertion_curve,
)
from keras_cxr.metrics.explanation_intervals import per_image_interval
from keras_cxr.metrics.explanation_metrics import (
    DEFAULT_EXPLANATION_METRICS,
    EXPLANATION_METRICS,
    ExplanationMetric,
    MetricInputs,
)
from keras_cxr.metrics.explanation_sensitivity import (
    avg_sensitivity,
    local_lipschitz_estimate,
    max_sensitivity,
)
from keras_cxr.metrics.leakage import cross_finding_leakage, leakage_matrix
from keras_cxr.metrics.localization import energy_in_mask, pointing_game, top_k_iou
from keras_cxr.metrics.model_randomization import model_randomization_test, randomize_model
from keras_cxr.metrics.multiclass import (
    multiclass_confusion_matrix,
    multiclass_report,
    pairwise_report,
    top_label_calibration_error,
)
from keras_cxr.metrics.multiclass_bootstrap import multiclass_intervals
from keras_cxr.metrics.multilabel import MULTILABEL_METRICS, multilabel_report
from keras_cxr.metrics.multilabel_bootstrap import multilabel_intervals
from keras_cxr.metrics.off_class_similarity import random_logit
from keras_cxr.metrics.operating_point import OperatingPoint, parse_operating_point
from keras_cxr.metrics.parameter_randomization import efficient_mprt, smooth_mprt
from keras_cxr.metrics.pixel_flips import pixel_flipping, pixel_flipping_curve
from keras_cxr.metrics.precision_recall import average_precision
from keras_cxr.metrics.relative_stability import (
    relative_input_stability,
    relative_output_stability,
    relative_representation_stability,
)
from keras_cxr.metrics.relevance_complexity import complexity, effective_complexity, sparseness
from keras_cxr.metrics.relevance_in_mask import (
    attribution_localisation,
    auc,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    top_k_intersection,
)
from keras_cxr.metrics.report import classification_intervals, classification_report
from keras_cxr.metrics.road_imputation import road, road_curve
from keras_cxr.metrics.roc import roc_auc, roc_curve
from keras_cxr.metrics.similarity import spearman_rank_correlation, ssim
from keras_cxr.metrics.subset_correlation import faithfulness_correlation
from keras_cxr.metrics.temperature_scaling import fit_temperature, negative_log_likelihood
from keras_cxr.metrics.threshold_selection import select_threshold
from keras_cxr.metrics.uncertainty import mc_dropout_predict

__all__ = [
    "DEFAULT_EXPLANATION_METRICS",
    "EXPLANATION_METRICS",
    "MULTILABEL_METRICS",
    "ExplanationMetric",
    "Interval",
    "MetricInputs",
    "OperatingPoint",
    "attribution_localisation",
    "auc",
    "average_drop",
    "average_increase",
    "average_precision",
    "avg_sensitivity",
    "bootstrap_intervals",
    "brier_score",
    "classification_intervals",
    "classification_report",
    "complexity",
    "confusion_matrix",
    "cross_finding_leakage",
    "curve_auc",
    "deletion_auc",
    "deletion_curve",
    "effective_complexity",
    "efficient_mprt",
    "energy_in_mask",
    "expected_calibration_error",
    "faithfulness_correlation",
    "fit_temperature",
    "insertion_auc",
    "insertion_curve",
    "label_randomization",
    "leakage_matrix",
    "local_lipschitz_estimate",
    "max_sensitivity",
    "mc_dropout_predict",
    "model_randomization_test",
    "multiclass_confusion_matrix",
    "multiclass_intervals",
    "multiclass_report",
    "multilabel_intervals",
    "multilabel_report",
    "negative_log_likelihood",
    "npv",
    "pairwise_report",
    "parse_operating_point",
    "per_image_interval",
    "pixel_flipping",
    "pixel_flipping_curve",
    "pointing_game",
    "ppv",
    "random_logit",
    "randomize_model",
    "relative_input_stability",
    "relative_output_stability",
    "relative_representation_stability",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "reliability_curve",
    "road",
    "road_curve",
    "roc_auc",
    "roc_curve",
    "select_threshold",
    "sensitivity",
    "smooth_mprt",
    "sparseness",
    "spearman_rank_correlation",
    "specificity",
    "ssim",
    "top_k_intersection",
    "top_k_iou",
    "top_label_calibration_error",
]
