"""`EXPLANATION_METRICS`: every explanation metric by name, called one uniform way.

`keras-cxr evaluate-explanations` scores any method with any of these by name. Each entry
knows its family (localisation, faithfulness, robustness, randomisation, complexity),
whether it needs region masks, which way is better, and how to call the metric on a
`MetricInputs` with `per_image=True`, at settings that suit a whole data set. The
settings that are in the input's units (noise radii) are given as a share of
`MetricInputs.input_range`, the width of the model's input range (255 for 0–255 pixels),
so Quantus's defaults for [0, 1] images carry over.

`road` counts the images still decided as `MetricInputs.class_index` once their most
relevant pixels are imputed: an image the model does not decide as that class to begin
with keeps nothing at any percentage, which reads as a (falsely) faithful map; score it on
images decided as the class.

The maps scored are the explainers' `heatmaps` (non-negative, in [0, 1]) for every method,
so CAMs and pixel methods are scored alike; the robustness and randomisation metrics call
the explainer themselves (and use its `attributions` where it has them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from keras_cxr.metrics import (
    average_drop_increase,
    deletion_insertion,
    explanation_sensitivity,
    localization,
    off_class_similarity,
    parameter_randomization,
    pixel_flips,
    relative_stability,
    relevance_complexity,
    relevance_in_mask,
    road_imputation,
    subset_correlation,
)

__all__ = [
    "DEFAULT_EXPLANATION_METRICS",
    "EXPLANATION_METRICS",
    "ExplanationMetric",
    "MetricInputs",
]


class MetricInputs(NamedTuple):
    """What a metric of `EXPLANATION_METRICS` may read, for one method on N images.

    Attributes:
        heatmaps: float `(N, H, W)` in [0, 1], the method's maps of `images`.
        masks: bool `(N, H, W)` region masks, or None when there are none.
        images: float32 `(N, H, W, C)` in the model's input scale.
        predict_fn: The model as a `predict_fn` (see `keras_cxr.metrics`).
        class_index: The class explained and scored, an int.
        num_classes: Classes of the model (2 for a single sigmoid unit).
        explainer: The method's explainer (`explain(images, class_index)`).
        explain_with: `explain_with(model, images)` → maps of the same method on another
            model (for the randomisation metrics).
        model: The Keras model.
        input_range: Width of the model's input range (255 for 0–255 pixels).
        batch_size: Most images per call of the model or the explainer.
        maps: The explainer's own maps of `images` (its `attributions` where it has
            them, else `heatmaps`), or None: the metrics that call the explainer then
            explain the images again. Defaults to None.

    Example:
        >>> import numpy as np
        >>> maps = np.random.default_rng(0).uniform(size=(2, 8, 8))
        >>> inputs = keras_cxr.metrics.MetricInputs(
        ...     maps, None, None, None, 1, 2, None, None, None, 255.0, 16)
        >>> scores = keras_cxr.metrics.EXPLANATION_METRICS["sparseness"].score(inputs)
        >>> bool(np.allclose(scores, keras_cxr.metrics.sparseness(maps, per_image=True)))
        True
    """

    heatmaps: np.ndarray
    masks: np.ndarray | None
    images: np.ndarray
    predict_fn: Callable
    class_index: int
    num_classes: int
    explainer: Any
    explain_with: Callable
    model: Any
    input_range: float
    batch_size: int
    maps: np.ndarray | None = None


@dataclass(frozen=True)
class ExplanationMetric:
    """One metric of `EXPLANATION_METRICS`.

    Attributes:
        family: "localisation", "faithfulness", "robustness", "randomisation" or
            "complexity".
        better: "higher" or "lower".
        needs_masks: Whether the metric compares maps with region masks.
        score: `score(inputs)` → float64 `(N,)` per-image values (NaN where undefined).
        cost: Model calls per image, in words, for the command's help.

    Example:
        >>> road = keras_cxr.metrics.EXPLANATION_METRICS["road"]
        >>> road.family, road.better, road.needs_masks
        ('faithfulness', 'lower', False)
    """

    family: str
    better: str
    needs_masks: bool
    score: Callable[[MetricInputs], np.ndarray]
    cost: str


def _masked(function: Callable, **settings) -> Callable[[MetricInputs], np.ndarray]:
    def score(i: MetricInputs) -> np.ndarray:
        return function(i.heatmaps, i.masks, per_image=True, **settings)

    return score


def _maps_only(function: Callable) -> Callable[[MetricInputs], np.ndarray]:
    return lambda i: function(i.heatmaps, per_image=True)


def _faithful(function: Callable, **settings) -> Callable[[MetricInputs], np.ndarray]:
    def score(i: MetricInputs) -> np.ndarray:
        return function(
            i.predict_fn, i.images, i.heatmaps, i.class_index, batch_size=i.batch_size,
            per_image=True, **settings,
        )  # fmt: skip

    return score


def _top_k_intersection(i: MetricInputs) -> np.ndarray:
    k = max(1, round(0.02 * i.heatmaps.shape[1] * i.heatmaps.shape[2]))
    return relevance_in_mask.top_k_intersection(i.heatmaps, i.masks, k=k, per_image=True)


def _pixel_flipping(i: MetricInputs) -> np.ndarray:
    step = max(1, i.heatmaps.shape[1] * i.heatmaps.shape[2] // 32)
    return pixel_flips.pixel_flipping(
        i.predict_fn, i.images, i.heatmaps, i.class_index, features_in_step=step,
        batch_size=i.batch_size, per_image=True,
    )  # fmt: skip


def _faithfulness_correlation(i: MetricInputs) -> np.ndarray:
    subset = max(1, round(0.05 * i.heatmaps.shape[1] * i.heatmaps.shape[2]))
    return subset_correlation.faithfulness_correlation(
        i.predict_fn, i.images, i.heatmaps, i.class_index, nr_runs=50, subset_size=subset,
        batch_size=i.batch_size, per_image=True,
    )  # fmt: skip


def _road(i: MetricInputs) -> np.ndarray:
    return road_imputation.road(
        i.predict_fn, i.images, i.heatmaps, i.class_index, percentages=range(10, 100, 10),
        noise=0.01 * i.input_range, batch_size=i.batch_size, per_image=True,
    )  # fmt: skip


def _sensitivity(function: Callable, **settings) -> Callable[[MetricInputs], np.ndarray]:
    def score(i: MetricInputs) -> np.ndarray:
        scaled = {k: v * i.input_range for k, v in settings.items()}
        return function(
            i.explainer, i.images, i.class_index, num_samples=10, batch_size=i.batch_size,
            per_image=True, **scaled,
        )  # fmt: skip

    return score


def _stability(function: Callable) -> Callable[[MetricInputs], np.ndarray]:
    def score(i: MetricInputs) -> np.ndarray:
        return function(
            i.explainer, i.predict_fn, i.images, i.class_index,
            noise_range=(0.02 * i.input_range, 0.2 * i.input_range), num_samples=10,
            batch_size=i.batch_size, per_image=True,
        )  # fmt: skip

    return score


def _random_logit(i: MetricInputs) -> np.ndarray:
    small = min(i.heatmaps.shape[1:]) < 11  # SSIM's window
    return off_class_similarity.random_logit(
        i.explainer, i.images, i.class_index, i.num_classes,
        similarity="spearman" if small else "ssim", per_image=True, maps=i.maps,
    )  # fmt: skip


def _efficient_mprt(i: MetricInputs) -> np.ndarray:
    return parameter_randomization.efficient_mprt(
        i.explain_with, i.model, i.images, batch_size=i.batch_size, per_image=True
    )


def _smooth_mprt(i: MetricInputs) -> np.ndarray:
    return parameter_randomization.smooth_mprt(
        i.explain_with, i.model, i.images, nr_samples=10, batch_size=i.batch_size,
        per_image=True,
    )  # fmt: skip


_NONE = "none (maps only)"
_ES, _RS = explanation_sensitivity, relative_stability
#: Name, family, which way is better, whether it needs masks, how to score, model calls.
# fmt: off
_TABLE = [
    # Localisation: the maps against the region masks.
    ("pointing_game", "localisation", "higher", True,
     _masked(localization.pointing_game), _NONE),
    ("energy_in_mask", "localisation", "higher", True,
     _masked(localization.energy_in_mask), _NONE),
    ("top_k_iou", "localisation", "higher", True,
     _masked(localization.top_k_iou, k=0.05), _NONE),
    ("relevance_mass_accuracy", "localisation", "higher", True,
     _masked(relevance_in_mask.relevance_mass_accuracy), _NONE),
    ("relevance_rank_accuracy", "localisation", "higher", True,
     _masked(relevance_in_mask.relevance_rank_accuracy), _NONE),
    ("attribution_localisation", "localisation", "higher", True,
     _masked(relevance_in_mask.attribution_localisation), _NONE),
    ("top_k_intersection", "localisation", "higher", True, _top_k_intersection, _NONE),
    ("auc", "localisation", "higher", True, _masked(relevance_in_mask.auc), _NONE),
    # Complexity: the maps alone.
    ("sparseness", "complexity", "higher", False,
     _maps_only(relevance_complexity.sparseness), _NONE),
    ("complexity", "complexity", "lower", False,
     _maps_only(relevance_complexity.complexity), _NONE),
    ("effective_complexity", "complexity", "lower", False,
     _maps_only(relevance_complexity.effective_complexity), _NONE),
    # Faithfulness: the model's score as the most relevant pixels change.
    ("deletion_auc", "faithfulness", "lower", False,
     _faithful(deletion_insertion.deletion_auc), "21 predictions"),
    ("insertion_auc", "faithfulness", "higher", False,
     _faithful(deletion_insertion.insertion_auc), "21 predictions"),
    ("average_drop", "faithfulness", "lower", False,
     _faithful(average_drop_increase.average_drop), "2 predictions"),
    ("average_increase", "faithfulness", "higher", False,
     _faithful(average_drop_increase.average_increase), "2 predictions"),
    ("pixel_flipping", "faithfulness", "lower", False, _pixel_flipping, "33 predictions"),
    ("faithfulness_correlation", "faithfulness", "higher", False,
     _faithfulness_correlation, "51 predictions"),
    ("road", "faithfulness", "lower", False, _road, "9 predictions and 9 sparse solves"),
    # Robustness: the maps of noisy copies of each image.
    ("max_sensitivity", "robustness", "lower", False,
     _sensitivity(_ES.max_sensitivity, radius=0.2), "11 explanations"),
    ("avg_sensitivity", "robustness", "lower", False,
     _sensitivity(_ES.avg_sensitivity, radius=0.2), "11 explanations"),
    ("local_lipschitz_estimate", "robustness", "lower", False,
     _sensitivity(_ES.local_lipschitz_estimate, std=0.1), "11 explanations"),
    ("relative_input_stability", "robustness", "lower", False,
     _stability(_RS.relative_input_stability), "11 explanations and predictions"),
    ("relative_output_stability", "robustness", "lower", False,
     _stability(_RS.relative_output_stability), "11 explanations and predictions"),
    # Randomisation: the maps of another class, or of a randomized model.
    ("random_logit", "randomisation", "lower", False, _random_logit,
     "1 explanation (2 without `maps`)"),
    ("efficient_mprt", "randomisation", "higher", False, _efficient_mprt, "2 explanations"),
    ("smooth_mprt", "randomisation", "lower", False, _smooth_mprt, "20 explanations"),
]
# fmt: on
#: Metric name (Quantus's, in snake case) → how `keras-cxr evaluate-explanations` runs it.
EXPLANATION_METRICS: dict[str, ExplanationMetric] = {
    name: ExplanationMetric(*entry) for name, *entry in _TABLE
}

#: What `keras-cxr evaluate-explanations` scores when `--metrics` is not given: two
#: localisation metrics (skipped without masks), a complexity, a faithfulness and a
#: randomisation metric, at about 23 model calls per image and method.
DEFAULT_EXPLANATION_METRICS = (
    "pointing_game",
    "relevance_mass_accuracy",
    "sparseness",
    "deletion_auc",
    "random_logit",
)
