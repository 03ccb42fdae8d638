"""The stages of a training run: the head on cached features, and whole models on images.

A `Run` holds what the stages share: the settings, the run folder, the model, the data
and where an interrupted run stands. `main_stage` trains by `TrainConfig.mode` (the head
on cached features, or images end to end); `fine_tune_stage` then unfreezes the last
backbone layers, and is kept only if its best epoch beats the main stage's on the
monitored validation value. Each stage checkpoints its best epoch, snapshots every epoch
for resume, and ends with its best weights loaded.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from keras_cxr.atomic import atomic_write
from keras_cxr.backend import JIT_TRAINING
from keras_cxr.data.image_splits import ImageSplits
from keras_cxr.models.head import HeadModel
from keras_cxr.models.prediction import positive_probability, predict_logits, predict_outputs
from keras_cxr.models.stacked_ensemble import StackedEnsemble
from keras_cxr.training.checkpoints import is_improvement, monitor_mode
from keras_cxr.training.data_parallel import (
    batchnorm_synchronized,
    drops_partial_batches,
    padded,
    validation_data,
)
from keras_cxr.training.features import extract_features, feature_batches
from keras_cxr.training.history import best_epoch, best_value, read_history
from keras_cxr.training.objective import objective
from keras_cxr.training.resume import ResumeState, StageResume
from keras_cxr.training.run_folder import HISTORY_FILE
from keras_cxr.training.stage_callbacks import best_weights_path, stage_callbacks

if TYPE_CHECKING:
    from keras_cxr.training.config import TrainConfig

MAIN, FINE_TUNE = "main", "fine_tune"


@dataclass
class Run:
    """What the stages of one training run share.

    Attributes:
        config: The settings.
        out: The run folder.
        model: The ensemble being trained.
        splits: The decoded data.
        resume: The interrupted run's state, or None for a fresh run.
        timings: Seconds per step, filled in by the stages.
        resumed: `(stage, 0-based epoch)` of every stage that continued a snapshot.
        head: The head trained on cached features (shares the model's head layers).
        val_features: Pooled validation features, when the head trained on them.
        devices: Devices the run trains on (`keras_cxr.training.data_parallel`).
        fine_tune: After `fine_tune_stage`: the monitor, both stages' best values and
            whether the fine-tuned weights were kept.

    Example:
        >>> run = keras_cxr.training.stages.Run(config, out, model, splits)
        >>> best = keras_cxr.training.stages.main_stage(run)
    """

    config: TrainConfig
    out: Path
    model: StackedEnsemble
    splits: ImageSplits
    resume: ResumeState | None = None
    timings: dict[str, float] = field(default_factory=dict)
    resumed: list[tuple[str, int]] = field(default_factory=list)
    head: HeadModel | None = None
    val_features: np.ndarray | None = None
    devices: int = 1
    fine_tune: dict | None = None

    @property
    def class_weight(self) -> dict[int, float]:
        """Loss weight per label: balanced when `config.class_weights`, else 1."""
        classes = range(max(2, self.config.num_classes))
        weights = (
            self.splits.class_weight if self.config.class_weights else dict.fromkeys(classes, 1.0)
        )
        return {int(k): float(v) for k, v in weights.items()}

    def stage_resume(self, stage: str, epochs: int) -> StageResume | None:
        """How `stage` continues the interrupted run, or None to start it afresh."""
        return None if self.resume is None else self.resume.for_stage(stage, epochs)


def main_stage(run: Run) -> int | None:
    """Trains the main stage by `config.mode`; returns its 0-based best epoch.

    Args:
        run: The run.

    Returns:
        The best epoch, or None when the monitored value was never finite.

    Example:
        >>> keras_cxr.training.stages.main_stage(run)
        5
    """
    config = run.config
    tic = time.perf_counter()
    resume = run.stage_resume(MAIN, config.epochs)
    if config.mode == "cached_features":
        best = _fit_head(run, resume)
    else:
        augment = config.augmentation if config.augment else False
        best = _fit_images(run, MAIN, config.learning_rate, config.epochs, augment, resume)
    run.timings["main"] = time.perf_counter() - tic - run.timings.get("features", 0.0)
    return best


def fine_tune_stage(run: Run) -> int | None:
    """Unfreezes the last `config.fine_tune_last` backbone layers and trains on images.

    The fine-tuned weights are kept only if the stage's best `config.monitor` value beats
    the main stage's (both are measured on the same validation images; the main stage's on
    their cached features, which the frozen backbones computed). Otherwise the model goes
    back to its weights before the stage: fine-tuning at too high a rate can make a
    network worse than its head alone, and keeping its best epoch would hide that.
    `run.fine_tune` records the comparison.

    Args:
        run: The run, after `main_stage`.

    Returns:
        The stage's 0-based best epoch, or None.

    Example:
        >>> keras_cxr.training.stages.fine_tune_stage(run)
    """
    config = run.config
    tic = time.perf_counter()
    before = [keras.ops.convert_to_numpy(v) for v in run.model.weights]
    run.model.unfreeze(config.fine_tune_last)
    best = _fit_images(
        run,
        FINE_TUNE,
        config.fine_tune_learning_rate,
        config.fine_tune_epochs,
        config.augmentation,
        run.stage_resume(FINE_TUNE, config.fine_tune_epochs),
    )
    run.fine_tune = _compare_with_main(run)
    if not run.fine_tune["kept"]:
        for variable, value in zip(run.model.weights, before):
            variable.assign(value)
    run.timings["fine_tune"] = time.perf_counter() - tic
    return best


def _compare_with_main(run: Run) -> dict:
    monitor = run.config.monitor
    history = read_history(run.out / HISTORY_FILE)
    main, tuned = best_value(history, MAIN, monitor), best_value(history, FINE_TUNE, monitor)
    mode = monitor_mode(monitor)
    kept = tuned is not None and (main is None or is_improvement(tuned, main, mode))
    if run.config.progress:
        verdict = "kept" if kept else "dropped: the model goes back to its head-only weights"
        print(f"Fine-tuning {verdict} ({monitor}: {tuned} fine-tuned, {main} before).")
    return {"monitor": monitor, "main_best": main, "fine_tune_best": tuned, "kept": kept}


def val_probabilities(run: Run) -> np.ndarray:
    """The trained model's pneumonia probability on the validation images (uncalibrated).

    Args:
        run: The run, after its stages.

    Returns:
        float64 `(N,)`.

    Example:
        >>> keras_cxr.training.stages.val_probabilities(run)[:2]
        array([0.12, 0.97])
    """
    return positive_probability(val_outputs(run))


def val_outputs(run: Run) -> np.ndarray:
    """The trained model's outputs on the validation images: `(N, 1)`, or `(N, k)` softmax.

    Uses the cached validation features when the backbones never changed after they
    were computed (no fine-tuning, or fine-tuning dropped), which skips a pass through
    the backbones.

    Args:
        run: The run, after its stages.

    Returns:
        float64 `(N, units)`.

    Example:
        >>> keras_cxr.training.stages.val_outputs(run).shape
        (520, 3)
    """
    return _val_predictions(run, logits=False)


def val_logits(run: Run) -> np.ndarray:
    """The trained model's logits on the validation images, for temperature scaling.

    Uses the cached validation features as `val_outputs` does.

    Args:
        run: The run, after its stages.

    Returns:
        float64 `(N, units)`: the output before its sigmoid or softmax.

    Example:
        >>> keras_cxr.training.stages.val_logits(run)[:2]
        array([[-1.99], [3.48]])
    """
    return _val_predictions(run, logits=True)


def _val_predictions(run: Run, logits: bool) -> np.ndarray:
    fine_tuned = bool(run.fine_tune and run.fine_tune["kept"])
    count = len(run.splits.val)
    if run.head is not None and run.val_features is not None and not fine_tuned:
        head = HeadModel(run.model, logits=True) if logits else run.head
        features = run.val_features if run.devices == 1 else padded(run.val_features, run.devices)
        outputs = head.predict(features, batch_size=run.config.batch_size, verbose=0)
        return np.asarray(keras.ops.convert_to_numpy(outputs), np.float64)[:count]
    images = padded(run.splits.val.images, run.devices)
    predict = predict_logits if logits else predict_outputs
    return predict(run.model, images, run.config.batch_size)[:count]


def _fit_head(run: Run, resume: StageResume | None) -> int | None:
    config, splits = run.config, run.splits
    tic = time.perf_counter()
    train_features = _cached_features(run, "train", splits.train.images, config.augmented_views)
    run.val_features = _cached_features(run, "val", splits.val.images, 0)[0]
    run.timings["features"] = time.perf_counter() - tic
    run.head = HeadModel(run.model)
    _compile(run.head, config.learning_rate, run.devices, config.num_classes)
    if resume is not None and resume.done:
        _load_weights(run.head, best_weights_path(run.out, MAIN))
        return _best_epoch_of(run, MAIN, resume)
    initial_epoch = _resume_weights(run, run.head, resume)
    labels = splits.train.labels.astype(np.float32)
    sample_weights = np.asarray([run.class_weight[int(y)] for y in splits.train.labels], np.float32)
    even = drops_partial_batches(run.devices)  # see keras_cxr.training.data_parallel
    batches = feature_batches(
        train_features,
        labels,
        sample_weights,
        config.batch_size,
        config.seed,
        initial_epoch,
        drop_remainder=even,
    )
    steps = len(labels) // config.batch_size if even else math.ceil(len(labels) / config.batch_size)
    validation = _validation(run, run.val_features)
    callbacks, best = stage_callbacks(
        config, run.out, MAIN, config.epochs, resume, run.model, splits.val
    )
    with batchnorm_synchronized(run.model, run.devices):
        run.head.fit(
            batches,
            steps_per_epoch=steps,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            shuffle=False,  # `feature_batches` shuffles, reproducibly per epoch
            verbose=0,
            **validation,
        )
    # The head shares the ensemble's layers: loading its best weights updates the model.
    _load_weights(run.head, best_weights_path(run.out, MAIN))
    return best.best_epoch


def _cached_features(run: Run, name: str, images: np.ndarray, views: int) -> np.ndarray:
    """Features from `<out>/cache/` when a run with this configuration computed them."""
    path = run.out / "cache" / f"features_{name}_{run.config.fingerprint()}_{views}.npy"
    if path.is_file():
        features = np.load(path)
        if features.shape[:2] == (1 + views, len(images)):
            return features
    batch_size = max(run.config.batch_size, 32)
    features = extract_features(
        run.model,
        padded(images, run.devices),
        augmented_views=views,
        batch_size=-(-batch_size // run.devices) * run.devices,
        seed=run.config.seed,
        progress=run.config.progress,
    )[:, : len(images)]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: np.save(p, features), suffix=".npy")
    return features


def _fit_images(run, stage, learning_rate, epochs, augment, resume) -> int | None:
    config, splits = run.config, run.splits
    _compile(run.model, learning_rate, run.devices, config.num_classes)
    if resume is not None and resume.done:
        _load_weights(run.model, best_weights_path(run.out, stage))
        return _best_epoch_of(run, stage, resume)
    initial_epoch = _resume_weights(run, run.model, resume)
    train = splits.train.to_dataset(
        config.batch_size,
        run.class_weight,
        shuffle=True,
        augment=augment,
        seed=config.seed,
        drop_remainder=drops_partial_batches(run.devices),
    )
    validation = _validation(run, splits.val.images)
    callbacks, best = stage_callbacks(config, run.out, stage, epochs, resume, run.model, splits.val)
    with batchnorm_synchronized(run.model, run.devices):
        run.model.fit(
            train,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            shuffle=False,  # the dataset shuffles itself
            verbose=0,
            **validation,
        )
    _load_weights(run.model, best_weights_path(run.out, stage))
    return best.best_epoch


def _validation(run: Run, inputs: np.ndarray) -> dict:
    """`fit`'s validation arguments: the plain split, or padded to split between devices."""
    labels = run.splits.val.labels
    if run.devices == 1:
        if inputs is run.splits.val.images:
            return {"validation_data": run.splits.val.to_dataset(run.config.batch_size)}
        return {"validation_data": (inputs, labels.astype(np.float32)[:, None])}
    return {
        "validation_data": validation_data(inputs, labels, run.devices),
        "validation_batch_size": run.config.batch_size,
    }


def _best_epoch_of(run: Run, stage: str, resume: StageResume) -> int | None:
    """A finished stage's best epoch: from its snapshot, else from `history.csv`."""
    if resume.best_epoch is not None:
        return resume.best_epoch
    return best_epoch(read_history(run.out / HISTORY_FILE), stage, run.config.monitor)


def _compile(
    model: keras.Model, learning_rate: float, devices: int = 1, num_classes: int = 1
) -> None:
    loss, metrics = objective(num_classes)
    # On several devices the padded validation rows weigh 0, so the metrics must be
    # weighted to stay exact (training metrics are then class-weighted too).
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        metrics=None if devices > 1 else metrics,
        weighted_metrics=metrics if devices > 1 else None,
        jit_compile=JIT_TRAINING,  # graph mode on TensorFlow, jax.jit on JAX
    )
    if devices == 1:
        # Without a distribution strategy Keras creates the optimizer's slots inside the
        # first trace of the train step, and a `tf.function` that creates variables is
        # traced twice; created here (zeros, as there), the step is traced once. On several
        # devices Keras builds them itself, in the strategy's scope.
        model.optimizer.build(model.trainable_variables)


def _resume_weights(run: Run, model: keras.Model, resume: StageResume | None) -> int:
    if resume is None:
        return 0
    _load_weights(model, resume.weights)
    run.resumed.append((resume.stage, resume.next_epoch))
    if run.config.progress:
        print(f"Resuming the {resume.stage} stage at epoch {resume.next_epoch + 1}.")
    return resume.next_epoch


def _load_weights(model: keras.Model, path: Path) -> None:
    if not Path(path).is_file():
        warnings.warn(
            f"No checkpoint at {path} (the monitored value was never finite); keeping the "
            "last epoch's weights.",
            stacklevel=3,
        )
        return
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
