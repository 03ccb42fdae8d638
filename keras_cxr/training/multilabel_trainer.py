"""`train_multilabel`: a model with one sigmoid unit per finding, from a label CSV."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr.atomic import atomic_write_json
from keras_cxr.backend import JIT_TRAINING
from keras_cxr.data.label_csv import read_label_csv
from keras_cxr.data.label_table import LabelTable, split_label_table
from keras_cxr.metrics.multilabel import multilabel_report
from keras_cxr.models.metadata import save_model
from keras_cxr.training.config import TrainConfig
from keras_cxr.training.finding_thresholds import finding_metadata, select_finding_thresholds
from keras_cxr.training.model_building import build_model
from keras_cxr.training.multilabel_objective import (
    MaskedBinaryCrossentropy,
    finding_class_weights,
)


@dataclass(frozen=True)
class MultiLabelResult:
    """What `train_multilabel` made and measured.

    Attributes:
        model_path: The saved model, its findings and thresholds inside.
        out: The run folder (`model.keras`, `metrics.json`).
        findings: The finding of each output unit.
        thresholds: Finding → decision threshold, chosen on validation.
        val_metrics: `keras_cxr.metrics.multilabel_report` on validation.
        test_metrics: The same on the test split, or None without one.
        label_counts: Split → `LabelTable.label_counts()`.

    Example:
        >>> result.val_metrics["macro_roc_auc"]
        0.97
    """

    model_path: Path
    out: Path
    findings: tuple[str, ...]
    thresholds: dict[str, float]
    val_metrics: dict[str, Any]
    test_metrics: dict[str, Any] | None
    label_counts: dict[str, dict[str, dict[str, int]]]


def train_multilabel(
    config: TrainConfig,
    labels_csv: str | os.PathLike,
    uncertainty: str = "u_ones",
    findings: Sequence[str] | None = None,
) -> MultiLabelResult:
    """Trains a multi-label `StackedEnsemble` on a ChestX-ray14- or CheXpert-layout CSV.

    The CSV is read with `keras_cxr.data.read_label_csv` (images under `config.data`),
    split by patient (`config.val_fraction`, `config.test_fraction`), and decoded at
    `config.image_size`. The model has one sigmoid unit per finding and trains end to end
    (backbones as `config.train_backbones` says) on `MaskedBinaryCrossentropy`: unknown
    labels (CheXpert's -1 under `uncertainty="ignore"`) are masked out, and with
    `config.class_weights` each finding's positives and negatives are balanced
    (`finding_class_weights`). The weights of the epoch with the lowest validation loss
    are kept (`config.patience` epochs without improvement stop training). Each
    finding's threshold is then chosen on validation (`config.threshold_method`) and
    stored in the model file with the findings (`finding_metadata`).

    Not (yet) done here, unlike the single-label `keras_cxr.training.train`: feature
    caching, the fine-tuning stage, temperature scaling, resuming, augmentation and the
    report.

    Args:
        config: The settings; `config.labels` is ignored (the CSV gives the findings).
        labels_csv: The label CSV.
        uncertainty: CheXpert's policy for -1 labels, one of
            `keras_cxr.data.UNCERTAINTY_POLICIES`. Defaults to "u_ones".
        findings: The findings to train on, in order. Defaults to None: every finding
            of the layout that at least one image shows (the others are dropped with a
            warning, as no threshold can be chosen for them).

    Returns:
        A `MultiLabelResult`; `config.out` holds `model.keras` and `metrics.json`.

    Raises:
        FileExistsError: `config.out` already holds a model and `config.overwrite` is off.
        ValueError: A bad CSV (see `keras_cxr.data.read_label_csv`) or setting.

    Example:
        >>> config = keras_cxr.training.TrainConfig.recipe(
        ...     "offline", data="cxr14", out="runs/cxr14")
        >>> result = keras_cxr.training.train_multilabel(config, "cxr14/Data_Entry_2017.csv")
    """
    import keras

    out = Path(config.out)
    model_path = out / "model.keras"
    if model_path.exists() and not config.overwrite:
        raise FileExistsError(
            f"{str(model_path)!r} already exists. Pass another --out, or --overwrite to replace it."
        )
    table = read_label_csv(labels_csv, config.data, uncertainty, findings)
    if findings is None:
        table = _shown_findings(table)
    splits = split_label_table(table, config.val_fraction, config.test_fraction, config.seed)
    images = {name: split.read_images(config.image_size) for name, split in splits.items()}
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, findings=len(table.findings))
    weights = finding_class_weights(splits["train"].labels) if config.class_weights else None
    loss = MaskedBinaryCrossentropy(
        *(None, None) if weights is None else (weights[1].tolist(), weights[0].tolist())
    )
    model.compile(keras.optimizers.Adam(config.learning_rate), loss, jit_compile=JIT_TRAINING)
    stop = keras.callbacks.EarlyStopping(
        "val_loss", patience=config.patience, restore_best_weights=True
    )
    model.fit(
        images["train"].astype(np.float32),
        splits["train"].labels,
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=(images["val"].astype(np.float32), splits["val"].labels),
        callbacks=[stop],
        verbose=2 if config.progress else 0,
    )
    scores = {
        name: model.predict(split.astype(np.float32), batch_size=config.batch_size, verbose=0)
        for name, split in images.items()
    }
    thresholds = select_finding_thresholds(
        splits["val"].labels, scores["val"], table.findings, config.threshold_method
    )
    cutoffs = list(thresholds.values())
    reports = {
        name: multilabel_report(splits[name].labels, scores[name], table.findings, cutoffs)
        for name in ("val", "test")
        if name in splits
    }
    out.mkdir(parents=True, exist_ok=True)
    metadata = {
        **finding_metadata(thresholds, config.threshold_method),
        "image_size": config.image_size,
        "uncertainty": uncertainty,
    }
    save_model(model, model_path, metadata)
    counts = {name: split.label_counts() for name, split in splits.items()}
    atomic_write_json(out / "metrics.json", {**reports, "label_counts": counts})
    return MultiLabelResult(
        model_path,
        out,
        table.findings,
        thresholds,
        reports["val"],
        reports.get("test"),
        counts,
    )


def _shown_findings(table: LabelTable) -> LabelTable:
    """`table` without the findings that no image shows, with a warning naming them."""
    shown = (table.labels == 1).any(axis=0)
    if shown.all():
        return table
    if not shown.any():
        raise ValueError("No image of the label CSV shows any finding; nothing to learn.")
    dropped = [name for name, keep in zip(table.findings, shown) if not keep]
    warnings.warn(
        f"No image shows {', '.join(dropped)}; training on the other "
        f"{int(shown.sum())} findings. Pass the findings to train on to keep them.",
        stacklevel=3,
    )
    kept = tuple(name for name, keep in zip(table.findings, shown) if keep)
    return replace(table, labels=table.labels[:, shown], findings=kept)


__all__ = ["MultiLabelResult", "train_multilabel"]
