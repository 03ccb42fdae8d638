"""`run_summary`: the numbers behind the run viewer's plots, computed from a `RunTable`."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr.serve.run_table import RunTable

__all__ = ["run_summary"]


def run_summary(table: RunTable, bins: int = 20) -> dict[str, Any]:
    """Probability histograms per label and the confusion counts at the stored threshold.

    Args:
        table: The run (`keras_cxr.serve.RunTable`), read up to its latest part.
        bins: Equal-width bins over [0, 1]. Defaults to 20.

    Returns:
        `{"rows", "threshold", "edges", "histograms", "confusion"}`: `edges` has
        `bins + 1` floats; `histograms` maps each label ("" for unlabelled rows) to its
        `bins` counts; `confusion` counts the outcomes `TP`, `FP`, `FN`, `TN` (two-class
        runs) or `right`, `wrong`, and the unlabelled rows under "".

    Raises:
        Nothing of its own.

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
    return {
        "rows": len(probability),
        "threshold": table.threshold,
        "edges": edges.tolist(),
        "histograms": histograms,
        "confusion": {str(name): int(count) for name, count in zip(names, counts)},
    }
