"""The callbacks every training stage runs: checkpoints, schedules, logs, heatmaps, snapshots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from keras_cxr.data.image_splits import ImageSet
from keras_cxr.data.sampling import balanced_sample
from keras_cxr.training.checkpoints import BestCheckpoint, TrainingSnapshot, monitor_mode
from keras_cxr.training.history import StageCSVLogger, truncate_history
from keras_cxr.training.progress import EpochProgress
from keras_cxr.training.resume import StageResume
from keras_cxr.training.run_folder import CHECKPOINTS_FOLDER, HISTORY_FILE, SNAPSHOT_FOLDER

if TYPE_CHECKING:
    from keras_cxr.training.config import TrainConfig


def best_weights_path(out: Path, stage: str) -> Path:
    """Where the best weights of `stage` are kept: `<out>/checkpoints/best_<stage>.weights.h5`.

    Args:
        out: The run folder.
        stage: The stage name.

    Returns:
        The path (which may not exist yet).

    Example:
        >>> keras_cxr.training.stage_callbacks.best_weights_path(Path("runs/x"), "main").name
        'best_main.weights.h5'
    """
    return out / CHECKPOINTS_FOLDER / f"best_{stage}.weights.h5"


def stage_callbacks(
    config: TrainConfig,
    out: Path,
    stage: str,
    epochs: int,
    resume: StageResume | None,
    explained_model: keras.Model,
    val: ImageSet,
) -> tuple[list[keras.callbacks.Callback], BestCheckpoint]:
    """The callbacks of one stage, in the order they must run.

    Heatmaps of a few validation images (`GradCAMCallback`, explaining `explained_model`,
    which shares its layers with the model being fit), the best checkpoint, early
    stopping, the learning-rate plateau, `history.csv`, TensorBoard, the progress bar,
    and, last, the resume snapshot (it records the state the others reached).

    Args:
        config: The run's settings.
        out: The run folder.
        stage: The stage name.
        epochs: The stage's epochs.
        resume: How the stage continues an interrupted run, or None.
        explained_model: The image → prediction model the heatmaps explain.
        val: The validation images.

    Returns:
        `(callbacks, best_checkpoint)`.

    Example:
        >>> callbacks, best = stage_callbacks(config, out, "main", 8, None, model, val)
    """
    (out / CHECKPOINTS_FOLDER).mkdir(parents=True, exist_ok=True)
    best = BestCheckpoint(best_weights_path(out, stage), config.monitor)
    mode = monitor_mode(config.monitor)
    early_stopping = keras.callbacks.EarlyStopping(
        config.monitor, patience=config.patience, mode=mode
    )
    plateau = keras.callbacks.ReduceLROnPlateau(
        config.monitor,
        factor=config.lr_factor,
        patience=config.lr_patience,
        min_lr=config.min_learning_rate,
        mode=mode,
    )
    callbacks: list[keras.callbacks.Callback] = []
    if config.gradcam_images:
        callbacks.append(_gradcam_callback(config, out, stage, explained_model, val))
    callbacks += [best, early_stopping, plateau]
    if resume is not None:
        truncate_history(out / HISTORY_FILE, stage, resume.next_epoch - 1)
    callbacks.append(StageCSVLogger(out / HISTORY_FILE, stage))
    if config.tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(
                os.fspath(out / "logs" / "tensorboard" / stage), write_graph=False
            )
        )
    if config.progress:
        callbacks.append(EpochProgress(stage))
    callbacks.append(
        TrainingSnapshot(
            out / SNAPSHOT_FOLDER,
            stage,
            config.fingerprint(),
            early_stopping=early_stopping,
            plateau=plateau,
            best=best,
            restore=None if resume is None else resume.callback_state,
            extra={"epochs": epochs},
        )
    )
    return callbacks, best


def _gradcam_callback(config, out, stage, explained_model, val):
    from keras_cxr.callbacks import GradCAMCallback

    chosen = balanced_sample(val.labels, config.gradcam_images, config.seed)
    return GradCAMCallback(
        val.images[chosen].astype(np.float32),
        labels=val.labels[chosen],
        log_dir=out / "logs" / "gradcam" / stage,
        every=config.gradcam_every,
        method=config.gradcam_method,
        max_images=config.gradcam_images,
        model=explained_model,
    )
