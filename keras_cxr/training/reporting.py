"""`write_report`: one self-contained HTML page about a model on a labelled image set."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_cxr.data.image_splits import ImageSet
from keras_cxr.explain import get_method
from keras_cxr.metrics import mc_dropout_predict
from keras_cxr.metrics.bootstrap import DEFAULT_RESAMPLES
from keras_cxr.metrics.report import INTERVAL_METRICS
from keras_cxr.models.head import feature_extractor
from keras_cxr.models.temperature import DEFAULT_TEMPERATURE
from keras_cxr.training.caveats import INTERNAL_VALIDATION
from keras_cxr.training.evaluation import Evaluation, evaluate_model
from keras_cxr.viz import plots
from keras_cxr.viz.overlay import overlay
from keras_cxr.viz.report import GalleryItem, write_html_report


@dataclass
class ReportResult:
    """What `write_report` wrote and computed.

    Attributes:
        path: The HTML file.
        evaluation: The `keras_cxr.training.Evaluation` shown in the page.
        uncertainty: float64 `(N,)` MC-dropout standard deviation of p(pneumonia), or
            None when the model has no dropout head.
        confident: Indices of the most confident correct cases shown.
        wrong: Indices of the most confidently wrong cases shown.

    Example:
        >>> result = keras_cxr.training.write_report(model, test, "report.html")
        >>> result.evaluation.metrics["roc_auc"]
    """

    path: Path
    evaluation: Evaluation
    uncertainty: np.ndarray | None
    confident: np.ndarray
    wrong: np.ndarray


def write_report(
    model: keras.Model,
    data: ImageSet,
    out: str | os.PathLike,
    threshold: float = 0.5,
    threshold_source: str = "given",
    method: str = "gradcam",
    gallery_size: int = 6,
    mc_samples: int = 30,
    title: str = "keras_cxr report",
    subtitle: str = "",
    history: dict[str, list[float]] | None = None,
    batch_size: int = 32,
    progress: bool = False,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    operating_point: str | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> ReportResult:
    """Evaluates a model on labelled images and writes a self-contained HTML report.

    The page holds the metrics at `threshold` (accuracy, sensitivity, specificity, PPV,
    NPV, ROC AUC, Brier score, ECE) of the probabilities calibrated by `temperature`, each
    with its 95% bootstrap interval over resamples of whole patients (`data.patients`),
    the ECE before calibration, the ROC curve, the reliability diagram (before and after
    calibration), the confusion matrix, the
    distribution of the prediction uncertainty and, if given, the training curves; then
    two galleries: the most confident correct cases and the most confidently wrong ones,
    each with the image, one CAM overlay per branch and the fused one, the prediction and
    its uncertainty. The uncertainty is the spread of `mc_samples` predictions with
    dropout on in the head only (`keras_cxr.metrics.mc_dropout_predict`; BatchNorm stays
    in inference mode). Images are embedded as base64 PNG (see
    `keras_cxr.viz.report.write_html_report`), so the one file is the whole report.

    A k-class model (the three-class task) is decided by the arg-max: the page shows the
    overall metrics, bacterial vs viral, a per-class one-vs-rest table and the k × k
    confusion matrix, the top-label ECE before and after temperature scaling, and the
    galleries rank cases by the calibrated probability of the predicted class; there is no
    threshold, ROC curve, reliability diagram or MC-dropout uncertainty.

    Args:
        model: A binary or k-class `keras_cxr.StackedEnsemble` (uncertainty needs a binary
            model with its dropout head; other models get "n/a").
        data: The labelled images (`keras_cxr.data.load_image_folder`).
        out: The `.html` file to write.
        threshold: Decision threshold, from validation. Defaults to 0.5.
        threshold_source: Where the threshold came from, shown on the page.
        method: CAM method of the overlays. Defaults to "gradcam".
        gallery_size: Cases per gallery. Defaults to 6.
        mc_samples: MC-dropout samples; 0 skips the uncertainty. Defaults to 30.
        title: Page title. Defaults to "keras_cxr report".
        subtitle: A line under the title.
        history: Training history (`keras_cxr.training.read_history`) to plot, or None.
        batch_size: Images per forward pass. Defaults to 32.
        progress: Show progress bars. Defaults to False.
        temperature: Temperature of the logits, from validation
            (`keras_cxr.models.stored_temperature`). Defaults to 1.
        operating_point: The operating point the threshold was chosen for, shown on the
            page. Defaults to None.
        n_resamples: Bootstrap resamples of the intervals; 0 shows none. Defaults to 1000.

    Returns:
        A `keras_cxr.training.ReportResult`.

    Raises:
        ValueError: For images that do not match the model, or an unknown `method`.
        OSError: If `out` cannot be written.

    Example:
        >>> model = keras_cxr.load_model("runs/demo/model.keras")
        >>> test = keras_cxr.data.load_image_folder("runs/demo/data/test", 64)
        >>> keras_cxr.training.write_report(model, test, "report.html", threshold=0.42)
    """
    explainer_class = get_method(method)
    evaluation = evaluate_model(
        model,
        data.images,
        data.labels,
        threshold,
        threshold_source,
        batch_size,
        progress=progress,
        temperature=temperature,
        groups=data.patients,
        n_resamples=n_resamples,
        operating_point=operating_point,
    )
    uncertainty = None
    multiclass = evaluation.threshold is None  # k classes, decided by the arg-max
    if mc_samples and not multiclass:  # MC dropout here samples p(pneumonia) only
        try:
            feature_extractor(model)
            draws = mc_dropout_predict(
                model, data.images, samples=mc_samples, batch_size=batch_size
            )
            uncertainty = draws.std(axis=0)
        except ValueError:
            uncertainty = None
    probabilities = evaluation.probabilities
    predicted = evaluation.predictions
    correct = predicted == evaluation.labels
    if multiclass:
        confidence = evaluation.confidence
    else:
        confidence = np.where(predicted == 1, probabilities, 1 - probabilities)
    confident = _top(np.flatnonzero(correct), confidence, gallery_size)
    wrong = _top(np.flatnonzero(~correct), confidence, gallery_size)

    explainer = explainer_class(model)  # explains the classes decided above
    galleries = {}
    for heading, indices in (
        ("Most confident correct cases", confident),
        ("Most confidently wrong cases", wrong),
    ):
        galleries[heading] = _gallery(
            explainer,
            data,
            indices,
            evaluation,
            uncertainty,
            "ok" if heading.startswith("Most confident correct") else "wrong",
        )

    if multiclass:
        metrics, tables = evaluation.report_sections()
    else:
        metrics, tables = _binary_metrics(evaluation, threshold_source), {}
    if uncertainty is not None:
        metrics["mean MC-dropout std (correct)"] = (
            float(uncertainty[correct].mean()) if (correct.any()) else float("nan")
        )
        metrics["mean MC-dropout std (wrong)"] = (
            float(uncertainty[~correct].mean()) if ((~correct).any()) else float("nan")
        )
    figure_objects = evaluation.figures()
    figures: dict[str, Any] = {
        "ROC curve (dot: decision threshold)": figure_objects.get("roc"),
        "Reliability diagram (before and after temperature scaling)": figure_objects.get(
            "reliability"
        ),
        "Confusion matrix": figure_objects["confusion_matrix"],
    }
    if uncertainty is not None:
        figures["MC-dropout uncertainty"] = plots.uncertainty_figure(uncertainty, correct)
    if history:
        figures["Training history"] = plots.history_figure(history)
    figures = {k: plots.figure_to_png(v) for k, v in figures.items() if v is not None}
    notes = [
        "The decision is the arg-max of the class probabilities; there is no threshold."
        if multiclass
        else f"The decision threshold {threshold:.4f} was chosen on: {threshold_source}; it "
        "is never tuned on the images evaluated here.",
        f"Overlays: {explainer.method_name}, red = strongest evidence for the predicted class. "
        "For an ensemble, one overlay per backbone branch and their fused map.",
        f"Uncertainty: standard deviation of p(pneumonia) over {mc_samples} forward passes "
        "with dropout active in the head only (BatchNorm in inference mode)."
        if uncertainty is not None
        else "Uncertainty: not available for this model (a k-class model, or no "
        "StackedEnsemble dropout head).",
    ]
    if multiclass:
        notes.append(
            "Top-label ECE: the gap between the predicted class's probability and the "
            "accuracy, over 10 equal-width bins. Probabilities are calibrated by temperature "
            f"scaling (T = {temperature:.3f}, fitted on validation); the arg-max is unchanged."
        )
    else:
        notes.append(
            "ECE: expected calibration error over 10 equal-width probability bins. "
            f"Probabilities are calibrated by temperature scaling (T = {temperature:.3f}, "
            "fitted on validation); the ECE and Brier score before calibration are shown too."
        )
    notes.append(INTERNAL_VALIDATION)
    bootstrap = evaluation.metrics.get("bootstrap")
    if bootstrap:
        notes.append(
            f"Brackets: {bootstrap['confidence']:.0%} percentile bootstrap intervals over "
            f"{bootstrap['resamples']} resamples of {bootstrap['groups']} {bootstrap['unit']}s "
            "(all images of a patient drawn together); resamples without both classes are "
            "left out of the rates they leave undefined."
        )
    path = write_html_report(
        out,
        title=title,
        subtitle=subtitle,
        metrics=metrics,
        figures=figures,
        galleries=galleries,
        notes=notes,
        tables=tables,
    )
    return ReportResult(Path(path), evaluation, uncertainty, confident, wrong)


def _binary_metrics(evaluation: Evaluation, threshold_source: str) -> dict[str, Any]:
    """The metrics table of a binary model, at its threshold, with the intervals."""
    metrics = _metrics_table(evaluation)
    metrics["threshold chosen on"] = threshold_source
    metrics["confusion matrix [[TN, FP], [FN, TP]]"] = evaluation.metrics["confusion_matrix"]
    return metrics


def _metrics_table(evaluation: Evaluation) -> dict[str, Any]:
    """The page's metrics: each with its bootstrap interval where there is one."""
    m, intervals = evaluation.metrics, evaluation.intervals
    table: dict[str, Any] = {"n": m["n"], "n_positive": m["n_positive"]}
    for key in INTERVAL_METRICS:
        table[key] = str(intervals[key]) if key in intervals else m[key]
    table["ece before calibration"] = m["ece_uncalibrated"]
    table["brier before calibration"] = m["brier_uncalibrated"]
    table["temperature"] = m["temperature"]
    table["threshold"] = m["threshold"]
    if m.get("operating_point"):
        table["operating point"] = m["operating_point"]
    return table


def _top(indices: np.ndarray, confidence: np.ndarray, count: int) -> np.ndarray:
    order = np.argsort(-confidence[indices], kind="stable")
    return indices[order[:count]]


def _gallery(explainer, data, indices, evaluation, uncertainty, highlight):
    if len(indices) == 0:
        return []
    images = data.images[indices].astype(np.float32)
    classes = evaluation.predictions[indices]
    explanation = explainer.explain(images, class_index=classes)
    items = []
    branches = explanation.layer_heatmaps if len(explanation.layer_heatmaps) > 1 else {}
    for row, index in enumerate(indices):
        pictures = [("image", data.images[index])]
        for path, maps in branches.items():
            pictures.append(
                (path.split("/")[-2], overlay(images[row : row + 1], maps[row : row + 1])[0])
            )
        pictures.append(
            (
                "fused" if branches else explanation.method,
                overlay(images[row : row + 1], explanation.heatmaps[row : row + 1])[0],
            )
        )
        probability = evaluation.probabilities[index]
        spread = "" if uncertainty is None else f" ± {uncertainty[index]:.3f} (MC dropout)"
        truth = evaluation.class_names[int(evaluation.labels[index])]
        guess = evaluation.class_names[int(evaluation.predictions[index])]
        shown = "pneumonia"
        if np.ndim(probability):  # k classes: the predicted one's probability
            shown, probability = guess, probability[int(evaluation.predictions[index])]
        items.append(
            GalleryItem(
                pictures,
                (
                    f"{Path(data.paths[index]).name}" if data.paths else f"case {index}",
                    f"truth {truth} · predicted {guess} · p({shown}) = {probability:.3f}{spread}",
                ),
                highlight,
            )
        )
    return items
