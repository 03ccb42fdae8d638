"""`evaluate_multilabel`: a multi-label model's per-finding metrics on a labelled CSV."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr.data.label_csv import read_label_csv
from keras_cxr.metrics.bootstrap import bootstrap_settings
from keras_cxr.metrics.multilabel import multilabel_report
from keras_cxr.metrics.multilabel_bootstrap import multilabel_intervals
from keras_cxr.models.loading import load_model
from keras_cxr.models.metadata import read_metadata


def evaluate_multilabel(
    model_path: str | os.PathLike,
    labels_csv: str | os.PathLike,
    images: str | os.PathLike,
    uncertainty: str | None = None,
    batch_size: int = 32,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-finding AUC, AP, sensitivity and specificity of a saved multi-label model.

    The model file's metadata gives its findings, their thresholds (chosen on validation
    when it was trained; never re-chosen here) and its input size. The CSV is read with
    `keras_cxr.data.read_label_csv` for those findings; every metric of
    `keras_cxr.metrics.multilabel_report` gets a patient-level bootstrap interval
    (`keras_cxr.metrics.multilabel_intervals`) unless `n_resamples` is 0.

    Args:
        model_path: A model saved by `keras_cxr.training.train_multilabel`.
        labels_csv: The label CSV of the images to evaluate on.
        images: The image folder (ChestX-ray14) or root (CheXpert).
        uncertainty: CheXpert's policy for -1 labels; None for the one the model was
            trained with. Defaults to None.
        batch_size: Images per prediction batch. Defaults to 32.
        n_resamples: Bootstrap resamples of patients; 0 for no intervals. Defaults to 1000.
        seed: Seed of the bootstrap. Defaults to 0.

    Returns:
        The report (`per_finding`, `macro_*`, `micro_*`) plus `"n"`, `"intervals"`
        (metric → `Interval.to_dict()`) and `"bootstrap"` (how they were drawn).

    Raises:
        ValueError: The model is not a multi-label model of `train_multilabel`, or the CSV
            is bad (see `keras_cxr.data.read_label_csv`).

    Example:
        >>> metrics = keras_cxr.training.evaluate_multilabel(
        ...     "runs/cxr14/model.keras", "test.csv", "images", n_resamples=200)
        >>> metrics["macro_roc_auc"]
        0.96
    """
    metadata = read_metadata(model_path)
    if metadata.get("task") != "multilabel":
        raise ValueError(
            f"{str(model_path)!r} is not a multi-label model: its metadata names no findings. "
            "Train one with `keras-cxr train --labels-csv`, or evaluate this model without "
            "--labels-csv."
        )
    findings = tuple(metadata["findings"])
    thresholds = [metadata["thresholds"][name] for name in findings]
    policy = uncertainty or metadata.get("uncertainty", "u_ones")
    table = read_label_csv(labels_csv, images, policy, findings)
    model = load_model(Path(model_path))
    pixels = table.read_images(int(metadata["image_size"])).astype(np.float32)
    scores = np.asarray(model.predict(pixels, batch_size=batch_size, verbose=0))
    report = multilabel_report(table.labels, scores, findings, thresholds)
    report["n"] = len(table)
    if n_resamples:
        intervals = multilabel_intervals(
            table.labels, scores, findings, thresholds, table.patients, n_resamples, seed=seed
        )
        report["intervals"] = {name: value.to_dict() for name, value in intervals.items()}
        report["bootstrap"] = bootstrap_settings(n_resamples, 0.95, table.patients, len(table))
    return report


__all__ = ["evaluate_multilabel"]
