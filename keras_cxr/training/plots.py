"""Matplotlib figures of an evaluation: ROC curve, reliability diagram, confusion matrix, history.

Every function returns a `matplotlib.figure.Figure` built without pyplot (no GUI backend,
safe in threads and on servers); `figure_to_png` renders one to PNG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np


def roc_figure(
    fpr: np.ndarray,
    tpr: np.ndarray,
    auc: float,
    operating_point: tuple[float, float] | None = None,
):
    """The ROC curve with its AUC and, optionally, the operating point of the threshold.

    Args:
        fpr: False positive rates, from `keras_cxr.metrics.roc_curve`.
        tpr: True positive rates.
        auc: The area under the curve, shown in the legend.
        operating_point: `(1 - specificity, sensitivity)` at the decision threshold.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
        >>> fpr, tpr, _ = keras_cxr.metrics.roc_curve(y, p)
        >>> keras_cxr.training.plots.roc_figure(fpr, tpr, 0.97).savefig("roc.png")
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 4.0), layout="constrained")
    axis = figure.subplots()
    axis.plot(fpr, tpr, color="#1f77b4", lw=2, label=f"ROC (AUC = {auc:.3f})")
    axis.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="chance")
    if operating_point is not None:
        axis.plot(*operating_point, "o", color="#d62728", label="threshold")
    axis.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="1 − specificity (FPR)",
        ylabel="sensitivity (TPR)",
        title="ROC curve",
    )
    axis.legend(loc="lower right", fontsize=8)
    axis.grid(alpha=0.3)
    return figure


def reliability_figure(
    confidence: np.ndarray, accuracy: np.ndarray, counts: np.ndarray, ece: float
):
    """A reliability diagram: observed share of positives against mean predicted probability.

    Args:
        confidence: Mean predicted probability per bin (NaN for empty bins), from
            `keras_cxr.metrics.reliability_curve`.
        accuracy: Observed share of positives per bin.
        counts: Cases per bin.
        ece: Expected calibration error, shown in the title.

    Returns:
        A `matplotlib.figure.Figure` with the diagram over a histogram of the bins.

    Example:
        >>> curve = keras_cxr.metrics.reliability_curve(y, p)
        >>> keras_cxr.training.plots.reliability_figure(*curve, ece=0.04)
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 4.6), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    filled = np.asarray(counts) > 0
    centers = (np.arange(len(counts)) + 0.5) / len(counts)
    top.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="perfect calibration")
    top.plot(
        np.asarray(confidence)[filled],
        np.asarray(accuracy)[filled],
        "o-",
        color="#1f77b4",
        label="model",
    )
    top.set(
        ylim=(0, 1), ylabel="observed share of pneumonia", title=f"Reliability (ECE = {ece:.3f})"
    )
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.bar(centers, counts, width=1 / len(counts), color="#aec7e8", edgecolor="#1f77b4")
    bottom.set(xlim=(0, 1), xlabel="predicted probability of pneumonia", ylabel="cases")
    return figure


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str]):
    """A confusion matrix, rows = truth and columns = prediction, counts and row shares.

    Args:
        matrix: `[[TN, FP], [FN, TP]]` counts.
        class_names: Name of each class, e.g. `("NORMAL", "PNEUMONIA")`.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
        >>> keras_cxr.training.plots.confusion_figure([[50, 4], [3, 60]], ("NORMAL", "PNEUMONIA"))
    """
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix, dtype=np.int64)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(4.2, 3.8), layout="constrained")
    axis = figure.subplots()
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(matrix.shape[0]):
        for col in range(matrix.shape[1]):
            color = "white" if shares[row, col] > 0.6 else "black"
            axis.text(
                col,
                row,
                f"{matrix[row, col]}\n{shares[row, col]:.0%}",
                ha="center",
                va="center",
                color=color,
                fontsize=11,
            )
    axis.set_xticks(range(len(class_names)), class_names)
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    return figure


def history_figure(history: Mapping[str, Sequence[float]]):
    """Training curves: loss and AUC per epoch, training and validation.

    Args:
        history: Log key → values per epoch, e.g. from `keras_cxr.training.read_history`.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
        >>> keras_cxr.training.plots.history_figure(keras_cxr.training.read_history("h.csv"))
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.4, 3.4), layout="constrained")
    axes = figure.subplots(1, 2)
    steps = np.arange(1, len(next(iter(history.values()), [])) + 1)
    for axis, key in zip(axes, ("loss", "auc")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + key)
            if values is not None and len(values):
                axis.plot(
                    steps[: len(values)],
                    values,
                    style,
                    marker="o",
                    ms=3,
                    label=(prefix or "train_").rstrip("_"),
                )
        axis.set(xlabel="epoch", title=key)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return figure


def uncertainty_figure(std: np.ndarray, correct: np.ndarray):
    """Histograms of the MC-dropout spread, for correct and for wrong predictions.

    Args:
        std: Standard deviation of the predicted probability per case.
        correct: Whether each case was classified correctly.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
        >>> keras_cxr.training.plots.uncertainty_figure(samples.std(0), predicted == labels)
    """
    from matplotlib.figure import Figure

    std = np.asarray(std, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    figure = Figure(figsize=(4.2, 3.4), layout="constrained")
    axis = figure.subplots()
    top = max(float(std.max()) if std.size else 0.0, 1e-3)
    bins = np.linspace(0, top * 1.05, 21)
    for mask, label, color in ((correct, "correct", "#2ca02c"), (~correct, "wrong", "#d62728")):
        if mask.any():
            axis.hist(
                std[mask],
                bins=bins,
                alpha=0.6,
                color=color,
                label=f"{label} ({mask.sum()})",
                density=True,
            )
    axis.set(
        xlabel="MC-dropout std of p(pneumonia)", ylabel="density", title="Prediction uncertainty"
    )
    axis.legend(fontsize=8)
    return figure


def figure_to_png(figure, dpi: int = 110) -> bytes:
    """Renders a matplotlib figure to PNG bytes.

    Args:
        figure: A `matplotlib.figure.Figure`.
        dpi: Resolution. Defaults to 110.

    Returns:
        The PNG file's bytes.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
