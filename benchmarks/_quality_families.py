"""The Quantus metric families of `explanation_quality.py`, through `EXPLANATION_METRICS`.

One metric or two of each family, scored the way `keras-cxr evaluate-explanations` scores
them (`keras_cxr.metrics.EXPLANATION_METRICS`, the same settings): localisation and
complexity on every image a method explains, faithfulness on the `faithfulness` images,
robustness and randomisation (which explain each image again, 11 and 1 times) on the
`randomization` images. The baselines have no explainer to call again: their robustness
and randomisation cells are undefined.
"""

from __future__ import annotations

import math

import numpy as np

from keras_cxr.metrics import EXPLANATION_METRICS, MetricInputs

#: Metric → the images it is scored on (a key of `quality_row`'s `data`, or "all").
FAMILY_METRICS = {
    "relevance_mass_accuracy": "all",
    "relevance_rank_accuracy": "all",
    "sparseness": "all",
    "complexity": "all",
    "faithfulness_correlation": "faithfulness",
    "road": "faithfulness",
    "max_sensitivity": "randomization",
    "random_logit": "randomization",
}
#: Metrics that call the explainer again, undefined for the model-free baselines.
NEEDS_EXPLAINER = ("max_sensitivity", "random_logit")


def family_row(model, predict_fn, data: dict, heatmaps: np.ndarray, explainer) -> dict:
    """Each metric of `FAMILY_METRICS` on its images: the mean of the defined values.

    `data` is `quality_row`'s, `heatmaps` the method's maps of `data["images"]`, and
    `explainer` the method's explainer (None for a baseline).
    """
    images, masks = data["images"], data["masks"]
    counts = {"all": len(images), "faithfulness": data["faithfulness"],
              "randomization": len(data["randomization"])}  # fmt: skip
    row = {}
    for metric, subset in FAMILY_METRICS.items():
        if metric in NEEDS_EXPLAINER and explainer is None:
            row[metric] = math.nan
            continue
        count = counts[subset]
        inputs = MetricInputs(
            heatmaps[:count].astype(np.float64), masks[:count].astype(bool), images[:count],
            predict_fn, 1, 2, explainer, None, model, 255.0, 16,
        )  # fmt: skip
        values = EXPLANATION_METRICS[metric].score(inputs)
        row[metric] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    return row
