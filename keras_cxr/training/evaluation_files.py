"""`save_evaluation`: an evaluation's `metrics.json` and its PNG figures, written atomically.

`EvaluationFiles` gives the binary and the k-class evaluation one `save` method over it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from keras_cxr.atomic import atomic_write, atomic_write_json

#: The metrics file of an evaluation folder.
METRICS_FILE = "metrics.json"


def save_evaluation(
    out: str | os.PathLike,
    figures: Mapping[str, Any],
    plot_files: Mapping[str, str],
    metrics: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Writes each figure as a PNG and then `metrics.json` into `out`, each file atomically.

    Args:
        out: Output folder, created if needed.
        figures: Name → matplotlib figure.
        plot_files: Name → file name of each figure, e.g. `{"roc": "roc.png"}`.
        metrics: The JSON-ready metrics.
        extra: More JSON values stored first in `metrics.json` (e.g. the model path).

    Returns:
        Name → path of every file written; `"metrics"` is the metrics file, which also
        lists the plots under `"plots"`.

    Raises:
        OSError: If `out` cannot be written (nothing half-written is left behind).
        KeyError: For a figure without a file name in `plot_files`.

    Example:
        >>> written = save_evaluation("runs/evaluate", evaluation.figures(), PLOT_FILES,
        ...                           evaluation.metrics, {"model": "model.keras"})
        >>> sorted(written)
        ['confusion_matrix', 'metrics', 'reliability', 'roc']
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, figure in figures.items():
        path = out / plot_files[name]
        atomic_write(path, lambda p, f=figure: f.savefig(p, format="png", dpi=110))
        written[name] = path
    written["metrics"] = atomic_write_json(
        out / METRICS_FILE,
        {**(extra or {}), **metrics, "plots": {k: v.name for k, v in written.items()}},
    )
    return written


class EvaluationFiles:
    """Mixin: `save(out)` for an evaluation with `metrics`, `figures()` and `PLOT_FILES`.

    A subclass sets the class attribute `PLOT_FILES` (figure name → PNG file name) and has
    a `metrics` dict and a `figures()` method returning name → matplotlib figure.

    Example:
        >>> evaluation = keras_cxr.training.evaluate_model(model, x_test, y_test, 0.42)
        >>> sorted(evaluation.save("runs/evaluate"))
        ['confusion_matrix', 'metrics', 'reliability', 'roc']
    """

    PLOT_FILES: ClassVar[Mapping[str, str]] = {}

    def save(self, out: str | os.PathLike, extra: dict[str, Any] | None = None) -> dict[str, Path]:
        """Writes `metrics.json` and the PNG plots into `out`, each file atomically.

        Args:
            out: Output folder, created if needed.
            extra: More JSON values stored in `metrics.json` (e.g. the model path).

        Returns:
            Name → path of every file written.

        Raises:
            OSError: If `out` cannot be written.
        """
        return save_evaluation(out, self.figures(), self.PLOT_FILES, self.metrics, extra)


__all__ = ["METRICS_FILE", "EvaluationFiles", "save_evaluation"]
