"""`run_summary`: the numbers behind the run viewer's plots, computed from a `RunTable`."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr.serve.run_table import RunTable

__all__ = ["run_summary"]


def run_summary(table: RunTable, bins: int = 20, peak_grid: int = 8) -> dict[str, Any]:
    """Probability histograms per label, the confusion at the stored threshold, calibration
    and where the fused maps peak.

    Calibration is over the rows whose label is one of a two-class run's classes: for each
    probability bin, the rows in it, their mean probability and the share that are
    positive (the second class). The peaks are the fused maps' `fused/peak_row` and
    `fused/peak_col` (fractions of the image's height and width) counted on a
    `peak_grid` × `peak_grid` grid, row-major from the top left.

    Args:
        table: The run (`keras_cxr.serve.RunTable`), read up to its latest part.
        bins: Equal-width bins over [0, 1]. Defaults to 20.
        peak_grid: Cells per side of the peak grid. Defaults to 8.

    Returns:
        `{"rows", "threshold", "edges", "histograms", "confusion", "calibration",
        "peaks"}`: `edges` has `bins + 1` floats; `histograms` maps each label ("" for
        unlabelled rows) to its `bins` counts; `confusion` counts the outcomes `TP`, `FP`,
        `FN`, `TN` (two-class runs) or `right`, `wrong`, and the unlabelled rows under "";
        `calibration` has `count`, `mean_probability` and `positive_rate` per bin (None
        where a bin is empty; all empty for a run of more classes); `peaks` is the
        `peak_grid` × `peak_grid` list of counts (empty without the columns).

    Example:
        >>> keras_cxr.serve.run_summary.run_summary(table, bins=4)["edges"]
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    columns = table.refresh()
    edges = np.linspace(0.0, 1.0, bins + 1)
    probability = columns.get("probability", np.zeros(0, np.float32))
    labels = columns.get("label", np.zeros(0, str))
    outcomes = columns.get("outcome", np.zeros(0, str))
    histograms = {
        str(label): np.histogram(probability[labels == label], edges)[0].tolist()
        for label in sorted(set(labels.tolist()))
    }
    names, counts = np.unique(outcomes, return_counts=True)
    calibration = _calibration(probability, labels, table.class_names, edges)
    return {
        "rows": len(probability),
        "threshold": table.threshold,
        "edges": edges.tolist(),
        "histograms": histograms,
        "confusion": {str(name): int(count) for name, count in zip(names, counts)},
        "calibration": calibration,
        "peaks": _peaks(columns, peak_grid),
    }


def _calibration(
    probability: np.ndarray, labels: np.ndarray, class_names: list[str], edges: np.ndarray
) -> dict[str, list]:
    bins = len(edges) - 1
    known = np.isin(labels, class_names) if len(class_names) == 2 else np.zeros(len(labels), bool)
    p = probability[known].astype(np.float64)
    positive = labels[known] == (class_names[1] if len(class_names) == 2 else "")
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)  # 1.0 in the last bin
    count = np.bincount(which, minlength=bins)
    sums = np.bincount(which, weights=p, minlength=bins)
    hits = np.bincount(which, weights=positive.astype(np.float64), minlength=bins)
    return {
        "count": count.tolist(),
        "mean_probability": [float(s / c) if c else None for s, c in zip(sums, count)],
        "positive_rate": [float(h / c) if c else None for h, c in zip(hits, count)],
    }


def _peaks(columns: dict[str, np.ndarray], grid: int) -> list[list[int]]:
    if "fused/peak_row" not in columns or "fused/peak_col" not in columns:
        return []
    rows, cols = columns["fused/peak_row"], columns["fused/peak_col"]
    found = np.isfinite(rows) & np.isfinite(cols)
    cell_row = np.clip((rows[found] * grid).astype(int), 0, grid - 1)
    cell_col = np.clip((cols[found] * grid).astype(int), 0, grid - 1)
    counts = np.zeros((grid, grid), np.int64)
    np.add.at(counts, (cell_row, cell_col), 1)
    return counts.tolist()
