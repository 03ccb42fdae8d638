"""`metric_intervals_figure`: each metric's mean and interval for several methods, side by side."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["metric_intervals_figure"]


def metric_intervals_figure(rows: Sequence[Mapping[str, Any]], columns: int = 3) -> Figure:
    """One panel per metric: each method's mean as a dot, its interval as a bar.

    Metrics have their own scales and directions, so each has its own panel, titled with
    the metric, its family and which way is better. A metric undefined for a method (no
    image with a region, say) leaves that method's line empty.

    Args:
        rows: Dicts with `method`, `metric`, `mean`, `low`, `high` and optionally `family`
            and `better`, e.g. `keras_cxr.training.ExplanationEvaluation.rows`.
        columns: Panels per line. Defaults to 3.

    Returns:
        A `matplotlib.figure.Figure` built without pyplot.

    Raises:
        ValueError: If `rows` is empty.

    Example:
        >>> keras_cxr.viz.metric_intervals.metric_intervals_figure([
        ...     {"method": "gradcam", "metric": "sparseness", "mean": 0.4, "low": 0.3,
        ...      "high": 0.5}])
        <Figure size 360x130 with 1 Axes>
    """
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("metric_intervals_figure needs at least one row.")
    metrics = list(dict.fromkeys(row["metric"] for row in rows))
    methods = list(dict.fromkeys(row["method"] for row in rows))
    columns = min(columns, len(metrics))
    lines = math.ceil(len(metrics) / columns)
    height = 0.5 + 0.3 * len(methods)
    figure = Figure(figsize=(3.6 * columns, (height + 0.5) * lines), layout="constrained")
    axes = np.atleast_1d(figure.subplots(lines, columns, squeeze=False)).ravel()
    for axis, metric in zip(axes, metrics):
        found = {row["method"]: row for row in rows if row["metric"] == metric}
        for position, method in enumerate(methods):
            row = found.get(method)
            if row is None or not np.isfinite(row["mean"]):
                continue
            low, high = row.get("low", np.nan), row.get("high", np.nan)
            if np.isfinite(low) and np.isfinite(high):
                axis.plot([low, high], [position, position], color="#1f77b4", lw=2)
            axis.plot(row["mean"], position, "o", color="#d62728", ms=4)
        axis.set_yticks(range(len(methods)), methods, fontsize=7)
        axis.set_ylim(len(methods) - 0.5, -0.5)
        any_row = next(iter(found.values()))
        notes = [any_row.get("family"), any_row.get("better") and f"{any_row['better']} is better"]
        notes = ", ".join(note for note in notes if note)
        axis.set_title(f"{metric}\n({notes})" if notes else metric, fontsize=8)
        axis.tick_params(axis="x", labelsize=7)
        axis.grid(alpha=0.3, axis="x")
    for axis in axes[len(metrics) :]:
        axis.set_visible(False)
    return figure
