"""Matplotlib figures of an evaluation and a training run.

The ROC curve, the reliability diagram, the confusion matrix, the training curves and the
MC-dropout uncertainty histograms. Every function returns a `matplotlib.figure.Figure`
built without pyplot (no GUI backend, safe in threads and on servers); `figure_to_png`
renders one to PNG bytes. The inputs are plain arrays, such as those of
`keras_cxr.metrics`, so this module knows nothing of training.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from keras_cxr._validation import check_int

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def roc_figure(
    fpr: np.ndarray,
    tpr: np.ndarray,
    auc: float,
    operating_point: tuple[float, float] | None = None,
) -> Figure:
    """The ROC curve with its AUC and, optionally, the operating point of the threshold.

    Args:
        fpr: False positive rates, from `keras_cxr.metrics.roc_curve`.
        tpr: True positive rates.
        auc: The area under the curve, shown in the legend.
        operating_point: `(1 - specificity, sensitivity)` at the decision threshold, drawn
            as a dot. Defaults to None (no dot).

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
        >>> fpr, tpr, _ = keras_cxr.metrics.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> keras_cxr.viz.plots.roc_figure(fpr, tpr, auc=0.75, operating_point=(0.5, 1.0))
        <Figure size 420x400 with 1 Axes>
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
    confidence: np.ndarray,
    accuracy: np.ndarray,
    counts: np.ndarray,
    ece: float,
    before: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None,
) -> Figure:
    """A reliability diagram: observed share of positives against mean predicted probability.

    Args:
        confidence: Mean predicted probability per bin (NaN for empty bins), from
            `keras_cxr.metrics.reliability_curve`.
        accuracy: Observed share of positives per bin.
        counts: Cases per bin.
        ece: Expected calibration error, shown in the title.
        before: `(confidence, accuracy, counts, ece)` of the same cases before
            calibration (temperature scaling), drawn as a second, dashed curve; None
            (default) draws one curve.

    Returns:
        A `matplotlib.figure.Figure` with the diagram over a histogram of the bins.

    Example:
        >>> curve = keras_cxr.metrics.reliability_curve([0, 1, 1, 1], [0.2, 0.4, 0.8, 0.9], 2)
        >>> keras_cxr.viz.plots.reliability_figure(*curve, ece=0.175)
        <Figure size 420x460 with 2 Axes>
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 4.6), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    filled = np.asarray(counts) > 0
    centers = (np.arange(len(counts)) + 0.5) / len(counts)
    top.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="perfect calibration")
    title = f"Reliability (ECE = {ece:.3f})"
    if before is not None:
        was = np.asarray(before[2]) > 0
        top.plot(
            np.asarray(before[0])[was],
            np.asarray(before[1])[was],
            "s--",
            color="#ff7f0e",
            label=f"before calibration (ECE {before[3]:.3f})",
        )
        title = f"Reliability (ECE {before[3]:.3f} → {ece:.3f})"
    top.plot(
        np.asarray(confidence)[filled],
        np.asarray(accuracy)[filled],
        "o-",
        color="#1f77b4",
        label="model" if before is None else f"calibrated (ECE {ece:.3f})",
    )
    top.set(ylim=(0, 1), ylabel="observed share of pneumonia", title=title)
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.bar(centers, counts, width=1 / len(counts), color="#aec7e8", edgecolor="#1f77b4")
    bottom.set(xlim=(0, 1), xlabel="predicted probability of pneumonia", ylabel="cases")
    return figure


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> Figure:
    """A confusion matrix, rows = truth and columns = prediction, counts and row shares.

    Args:
        matrix: `[[TN, FP], [FN, TP]]` counts.
        class_names: Name of each class, e.g. `("NORMAL", "PNEUMONIA")`.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
        >>> keras_cxr.viz.plots.confusion_figure([[50, 4], [3, 60]], ("NORMAL", "PNEUMONIA"))
        <Figure size 420x380 with 1 Axes>
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


def history_figure(history: Mapping[str, Sequence[float]]) -> Figure:
    """Training curves: loss and AUC per epoch, training and validation.

    Draws the keys "loss" and "auc" as solid lines and "val_loss" and "val_auc" as dashed
    ones, in two panels; missing keys are left out.

    Args:
        history: Log key → values per epoch, such as `keras.callbacks.History.history` or
            a training CSV log read back into a dict.

    Returns:
        A `matplotlib.figure.Figure` with a loss panel and an AUC panel.

    Example:
        >>> keras_cxr.viz.plots.history_figure({"loss": [0.7, 0.5], "val_loss": [0.7, 0.6]})
        <Figure size 840x340 with 2 Axes>
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
        if axis.lines:  # a panel whose keys are all missing stays empty, without a legend
            axis.legend(fontsize=8)
    return figure


def uncertainty_figure(std: np.ndarray, correct: np.ndarray) -> Figure:
    """Histograms of the MC-dropout spread, for correct and for wrong predictions.

    Args:
        std: Standard deviation of the predicted probability per case, shape (N,), e.g.
            of the samples of `keras_cxr.metrics.mc_dropout_predict`.
        correct: Whether each case was classified correctly, shape (N,).

    Returns:
        A `matplotlib.figure.Figure`.

    Example:
        >>> import numpy as np
        >>> draws = np.random.default_rng(0).random((30, 8))  # e.g. from mc_dropout_predict
        >>> correct = np.array([True] * 6 + [False] * 2)
        >>> keras_cxr.viz.plots.uncertainty_figure(draws.std(axis=0), correct)
        <Figure size 420x340 with 1 Axes>
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


def figure_to_png(figure: Figure, dpi: int = 110) -> bytes:
    """Renders a matplotlib figure to PNG bytes.

    The image is the figure's size in inches times `dpi` pixels, with no cropping.

    Args:
        figure: A `matplotlib.figure.Figure`.
        dpi: Resolution in dots per inch, an integer >= 1. Defaults to 110.

    Returns:
        The PNG file's bytes.

    Raises:
        ValueError: If `dpi` is not an integer >= 1.

    Example:
        >>> figure = keras_cxr.viz.plots.confusion_figure([[50, 4], [3, 60]], ("N", "P"))
        >>> keras_cxr.viz.plots.figure_to_png(figure)[:4]
        b'\\x89PNG'
    """
    dpi = check_int("dpi", dpi)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
