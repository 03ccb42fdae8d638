"""`evaluate_explanations`: several explanation methods scored with several metrics.

The scoring step of `keras-cxr evaluate-explanations`: each method explains every image
once (in batches), then every chosen metric of `keras_cxr.metrics.EXPLANATION_METRICS`
scores those maps per image, and each metric's mean gets a patient-level bootstrap
interval (`keras_cxr.metrics.per_image_interval`). The result saves as two CSV tables
and a plot, each written atomically.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr.atomic import atomic_write, atomic_write_text

__all__ = ["SUMMARY_COLUMNS", "ExplanationEvaluation", "evaluate_explanations"]

#: The columns of `explanation_scores.csv`, one line per method and metric.
SUMMARY_COLUMNS = (
    "method", "metric", "family", "better", "mean", "low", "high", "images", "confidence",
)  # fmt: skip
#: The files `ExplanationEvaluation.save` writes.
FILES = {
    "summary": "explanation_scores.csv",
    "per_image": "explanation_scores_per_image.csv",
    "plot": "explanation_scores.png",
}


@dataclass
class ExplanationEvaluation:
    """Per-image scores of every (method, metric) pair, and their means with intervals.

    Attributes:
        rows: One dict per method and metric, keys `SUMMARY_COLUMNS`: the mean over the
            images where the metric is defined, the interval's `low` and `high`, and
            `images`, how many values were defined (localisation: images with a region).
        per_image: `(method, metric)` → float64 `(N,)`, NaN where undefined.
        names: The N image names.
        groups: The N patients the intervals resample.

    Args:
        rows, per_image, names, groups: The attributes; `evaluate_explanations` makes it.

    Returns:
        The dataclass.

    Raises:
        Nothing: a plain record.

    Example:
        >>> evaluation.rows[0]["metric"], evaluation.rows[0]["mean"]
        ('pointing_game', 0.75)
    """

    rows: list[dict[str, Any]]
    per_image: dict[tuple[str, str], np.ndarray]
    names: list[str]
    groups: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The summary as aligned text: one line per method and metric."""
        lines = [f"{'method':<22} {'metric':<26} {'mean':>9}  95% interval        images"]
        for row in self.rows:
            interval = f"[{row['low']:.4f}, {row['high']:.4f}]"
            lines.append(
                f"{row['method']:<22} {row['metric']:<26} {row['mean']:>9.4f}  {interval:<19} "
                f"{row['images']:>5}  ({row['better']} is better)"
            )
        return "\n".join(lines)

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Writes the summary CSV, the per-image CSV and the plot into `out`, atomically.

        Args:
            out: The output folder, created if needed.

        Returns:
            `{"summary", "per_image", "plot"}` → the paths written.

        Raises:
            OSError: If the folder cannot be written.
        """
        from keras_cxr.viz.metric_intervals import metric_intervals_figure

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = {
            "summary": atomic_write_text(out / FILES["summary"], _csv(SUMMARY_COLUMNS, self.rows)),
            "per_image": atomic_write_text(out / FILES["per_image"], self._per_image_csv()),
        }
        figure = metric_intervals_figure(self.rows)
        written["plot"] = atomic_write(out / FILES["plot"], lambda p: figure.savefig(p, dpi=110))
        return written

    def _per_image_csv(self) -> str:
        rows = [
            {"image": name, "patient": group, "method": method, "metric": metric, "value": value}
            for (method, metric), values in self.per_image.items()
            for name, group, value in zip(self.names, self.groups, values)
        ]
        return _csv(("image", "patient", "method", "metric", "value"), rows)


def _csv(columns: Sequence[str], rows: list[dict[str, Any]]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _predict_fn(model) -> Any:
    """The model as a compiled `predict_fn`: float32 batches in, its outputs as NumPy."""
    from keras_cxr.backend import compile_function

    forward = compile_function(
        lambda batch: model(batch, training=False),
        [((None, *model.input_shape[1:]), "float32")],
        model=model,
    )
    return lambda batch: np.asarray(forward(np.asarray(batch, np.float32)))


def _explain(explainer, images: np.ndarray, class_index: int, batch_size: int):
    """The heatmaps of `images`, and the maps the metrics read (attributions if any)."""
    heatmaps, maps = [], []
    for begin in range(0, len(images), batch_size):
        explanation = explainer.explain(images[begin : begin + batch_size], class_index)
        heatmaps.append(np.asarray(explanation.heatmaps, np.float64))
        attributions = explanation.attributions
        maps.append(heatmaps[-1] if attributions is None else np.asarray(attributions))
    return np.concatenate(heatmaps), np.concatenate(maps).astype(np.float64)


def evaluate_explanations(
    model,
    images: Any,
    methods: Sequence[str],
    metrics: Sequence[str],
    masks: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    class_index: int = 1,
    batch_size: int = 16,
    n_resamples: int = 1000,
    seed: int = 0,
    input_range: float = 255.0,
    progress: bool = False,
) -> ExplanationEvaluation:
    """Scores each method's maps of `images` with each metric, with patient intervals.

    Args:
        model: A Keras classifier taking `images`.
        images: `(N, H, W, C)` in the model's input scale (uint8 is cast to float32).
        methods: Names of `keras_cxr.explain.METHODS`.
        metrics: Names of `keras_cxr.metrics.EXPLANATION_METRICS`.
        masks: bool `(N, H, W)` regions (empty: no finding), needed by the localisation
            metrics. Defaults to None.
        names: Image names for the per-image table. Defaults to their indices.
        groups: Patient of each image for the intervals. Defaults to one per image.
        class_index: The class explained and scored. Defaults to 1 (a binary model's
            finding).
        batch_size: Most images per call of the explainer and the model. Defaults to 16.
        n_resamples: Bootstrap resamples of patients. Defaults to 1000.
        seed: Seed of the bootstrap. Defaults to 0.
        input_range: Width of the input range, for the noise of the robustness metrics.
            Defaults to 255 (0–255 pixels).
        progress: Show a progress bar over the methods and metrics. Defaults to False.

    Returns:
        An `ExplanationEvaluation`, its rows in the order of `methods` then `metrics`.

    Raises:
        ValueError: For an unknown method or metric, a localisation metric without
            masks, or masks of another shape than the images.

    Example:
        >>> evaluation = keras_cxr.training.evaluate_explanations(
        ...     model, images, ["gradcam"], ["pointing_game", "sparseness"], masks=masks)
        >>> [row["metric"] for row in evaluation.rows]
        ['pointing_game', 'sparseness']
    """
    from tqdm.auto import tqdm

    from keras_cxr.explain import get_method
    from keras_cxr.metrics import EXPLANATION_METRICS, MetricInputs, per_image_interval

    images = np.asarray(images, np.float32)
    check_choices(methods, metrics, masks is not None)
    if masks is not None and masks.shape != images.shape[:3]:
        raise ValueError(f"The masks have shape {masks.shape}; expected {images.shape[:3]}.")
    names = [str(i) for i in range(len(images))] if names is None else list(names)
    groups = list(names) if groups is None else [str(g) for g in groups]
    predict_fn = _predict_fn(model)
    num_classes = max(2, int(model.output_shape[-1]))
    evaluation = ExplanationEvaluation([], {}, names, groups)
    bar = tqdm(total=len(methods) * (1 + len(metrics)), disable=not progress, desc="evaluating")
    with bar:
        for method in methods:
            explainer = get_method(method)(model)
            bar.set_postfix_str(f"{method}: explaining")
            heatmaps, maps = _explain(explainer, images, class_index, batch_size)
            bar.update()

            def explain_with(other, batch, method=method):
                return get_method(method)(other).explain(batch, class_index).heatmaps

            inputs = MetricInputs(
                heatmaps, masks, images, predict_fn, class_index, num_classes, explainer,
                explain_with, model, float(input_range), batch_size, maps,
            )  # fmt: skip
            for metric in metrics:
                bar.set_postfix_str(f"{method}: {metric}")
                spec = EXPLANATION_METRICS[metric]
                values = np.asarray(spec.score(inputs), np.float64)
                evaluation.per_image[(method, metric)] = values
                row = {"method": method, "metric": metric, "family": spec.family,
                       "better": spec.better, "images": int(np.isfinite(values).sum())}  # fmt: skip
                row.update(_interval(per_image_interval, values, groups, n_resamples, seed))
                evaluation.rows.append(row)
                bar.update()
    return evaluation


def _interval(per_image_interval, values, groups, n_resamples, seed) -> dict[str, float]:
    if not np.isfinite(values).any() or n_resamples == 0:
        mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "confidence": 0.95}
    interval = per_image_interval(values, groups, n_resamples=n_resamples, seed=seed)
    return {"mean": interval.point, "low": interval.low, "high": interval.high,
            "confidence": interval.confidence}  # fmt: skip


def check_choices(methods: Sequence[str], metrics: Sequence[str], have_masks: bool) -> None:
    """Raises for an unknown method or metric name, or a localisation metric without masks.

    Args:
        methods: Method names, of `keras_cxr.explain.METHODS`.
        metrics: Metric names, of `keras_cxr.metrics.EXPLANATION_METRICS`.
        have_masks: Whether region masks are given.

    Raises:
        ValueError: Naming the unknown names and listing the valid ones, or the metrics
            that need masks.

    Example:
        >>> keras_cxr.training.explanation_evaluation.check_choices(
        ...     ["gradcam"], ["sparseness"], have_masks=False)
    """
    from keras_cxr.explain import METHODS
    from keras_cxr.metrics import EXPLANATION_METRICS

    choices = (("method", methods, METHODS), ("metric", metrics, EXPLANATION_METRICS))
    for kind, chosen, valid in choices:
        unknown = [name for name in chosen if name not in valid]
        if unknown or not chosen:
            raise ValueError(
                f"Unknown {kind} {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"valid {kind}s: {', '.join(valid)}."
            )
    masked = [name for name in metrics if EXPLANATION_METRICS[name].needs_masks]
    if masked and not have_masks:
        raise ValueError(
            f"The metrics {', '.join(masked)} compare maps with region masks; pass masks "
            "(--masks or --boxes) or leave them out."
        )
