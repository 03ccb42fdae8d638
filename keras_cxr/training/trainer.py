"""`train`: the reference pneumonia pipeline, from a Kermany folder to a saved, thresholded model.

Stages:

1. Load the folder into patient-split arrays (`keras_cxr.training.load_image_splits`).
2. Build the `keras_cxr.StackedEnsemble` (ImageNet backbones, or compact CNNs).
3. Main stage, by `TrainConfig.mode`:
   - `"cached_features"` (frozen backbones, the default): pooled features of every
     training image and of `augmented_views` fixed augmented views are computed once;
     a `HeadModel` trains on them, each epoch showing each image in one random view.
   - `"frozen_images"`: plain `fit` on images, backbones recomputed every batch (the
     baseline of `benchmarks/training_pipeline.py`).
   - `"end_to_end"`: everything trains on images (the offline recipe).
4. Optional fine-tuning of the last `fine_tune_last` backbone layers at a lower rate.
5. The best epoch's weights go into the full image → prediction model; the decision
   threshold is chosen on the validation split; the model is saved as `model.keras` with
   the threshold inside (`keras_cxr.training.read_metadata`).

Every stage writes `history.csv`, TensorBoard logs, Grad-CAM grids of validation images
(`GradCAMCallback`), the best weights and a resume snapshot after each epoch.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_cxr.layers.backbones import BACKBONES
from keras_cxr.metrics.classification import classification_report, select_threshold
from keras_cxr.models.stacked_ensemble import StackedEnsemble
from keras_cxr.atomic import atomic_write_json
from keras_cxr.training.checkpoints import (
    BestCheckpoint,
    TrainingSnapshot,
    monitor_mode,
    read_snapshot,
)
from keras_cxr.training.compact_cnn import COMPACT_BACKBONES, build_compact_backbone
from keras_cxr.training.config import TrainConfig
from keras_cxr.training.dataset import ImageSet, ImageSplits, load_image_splits
from keras_cxr.training.features import HeadModel, copy_head_weights, extract_features
from keras_cxr.training.metadata import save_model
from keras_cxr.training.progress import EpochProgress

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "train_summary.json"
_MAIN, _FINE_TUNE = "main", "fine_tune"


class RunExistsError(FileExistsError):
    """The output folder already holds a training run (resume it or overwrite it).

    Example:
        >>> try:
        ...     keras_cxr.training.train(config)
        ... except keras_cxr.training.RunExistsError:
        ...     result = keras_cxr.training.train(dataclasses.replace(config, resume=True))
    """


@dataclass
class TrainResult:
    """What `keras_cxr.training.train` produced.

    Attributes:
        model: The full image → probability model with the best weights.
        model_path: Where it was saved (`<out>/model.keras`, threshold inside).
        threshold: Decision threshold chosen on the validation split.
        val_metrics: `keras_cxr.metrics.classification_report` on validation at
            `threshold`.
        test_metrics: The same on the test split, or None without one.
        history: Log key → one value per epoch, every stage in order.
        best_epoch: 0-based best epoch of the main stage.
        timings: Seconds spent per step ("load", "features", "main", "fine_tune",
            "total").
        resumed: `(stage, 0-based epoch)` where an interrupted run was continued; empty
            for a fresh run.
        out: The output folder.
        splits: The decoded data (not saved).

    Example:
        >>> result = keras_cxr.training.train(config)
        >>> result.val_metrics["roc_auc"], result.model_path
        (0.981, PosixPath('runs/train/model.keras'))
    """

    model: keras.Model
    model_path: Path
    threshold: float
    val_metrics: dict[str, Any]
    test_metrics: dict[str, Any] | None
    history: dict[str, list[float]]
    best_epoch: int | None
    timings: dict[str, float]
    out: Path
    splits: ImageSplits | None = field(default=None, repr=False)
    resumed: list[tuple[str, int]] = field(default_factory=list)


def train(config: TrainConfig, splits: ImageSplits | None = None) -> TrainResult:
    """Trains, checkpoints, thresholds and saves a pneumonia classifier.

    See the module docstring for the stages. With `config.resume`, an interrupted run in
    `config.out` continues from its last snapshot: the same epoch, weights, optimizer
    state, learning rate, early-stopping counter and best score. Nothing is downloaded
    unless `config.weights == "imagenet"`, which fails at once when offline.

    Args:
        config: The settings (`keras_cxr.training.TrainConfig`).
        splits: Already decoded data; None loads `config.data`.

    Returns:
        A `keras_cxr.training.TrainResult`.

    Raises:
        ValueError: For invalid settings or data (see `load_image_splits`).
        FileNotFoundError: If `config.data` does not exist.
        RunExistsError: If `config.out` holds a run and neither `resume` nor `overwrite`
            is set, or `resume` is set for a different configuration.
        keras_cxr.WeightsUnavailableError: If ImageNet weights cannot be downloaded.
        OSError: If `config.out` cannot be written.

    Example:
        >>> config = keras_cxr.training.TrainConfig.recipe("offline", data="chest_xray")
        >>> result = keras_cxr.training.train(config)
        >>> result.val_metrics["roc_auc"]
        0.97
    """
    config.validate()
    started = time.perf_counter()
    timings: dict[str, float] = {}
    out = Path(config.out)
    if splits is None and config.data is None:
        raise ValueError("TrainConfig.data is not set: pass the chest X-ray folder.")
    if splits is None:
        _check_data_folder(config.data)
    check_writable(out)
    model = build_model(config)
    snapshot = _prepare_out(out, config)
    if splits is None:
        tic = time.perf_counter()
        splits = load_image_splits(
            config.data,
            image_size=config.image_size,
            val_fraction=config.val_fraction,
            test_fraction=config.test_fraction,
            seed=config.seed,
            max_images=config.max_images,
            progress=config.progress,
        )
        timings["load"] = time.perf_counter() - tic
    _check_splits(splits, config)
    atomic_write_json(out / "config.json", config.to_dict())
    run = _Run(config, out, model, splits, snapshot, timings)
    _, best_epoch = run.main_stage()
    if config.fine_tune_last and config.fine_tune_epochs:
        run.fine_tune_stage()
    history = read_history(out / HISTORY_FILE)
    val_probabilities = run.val_probabilities()
    threshold = select_threshold(splits.val.labels, val_probabilities, config.threshold_method)
    val_metrics = classification_report(splits.val.labels, val_probabilities, threshold)
    test_metrics = None
    if splits.test is not None:
        test_probabilities = predict_probabilities(model, splits.test.images, config.batch_size)
        test_metrics = classification_report(splits.test.labels, test_probabilities, threshold)
    metadata = {
        "threshold": threshold,
        "threshold_method": config.threshold_method,
        "threshold_split": "validation",
        "class_names": list(splits.class_names),
        "image_size": config.image_size,
        "color_mode": "rgb",
        "recipe": config.recipe_name,
        "config": config.to_dict(),
        "val_metrics": val_metrics,
        "best_epoch": best_epoch,
    }
    model_path = save_model(model, out / MODEL_FILE, metadata)
    timings["total"] = time.perf_counter() - started
    atomic_write_json(
        out / SUMMARY_FILE,
        {
            "model": model_path,
            "threshold": threshold,
            "val_metrics": val_metrics,
            "test_metrics": test_metrics,
            "best_epoch": best_epoch,
            "timings_s": timings,
            "images": {
                name: (0 if part is None else len(part))
                for name, part in (
                    ("train", splits.train),
                    ("val", splits.val),
                    ("test", splits.test),
                )
            },
        },
    )
    return TrainResult(
        model=model,
        model_path=model_path,
        threshold=threshold,
        val_metrics=val_metrics,
        test_metrics=test_metrics,
        history=history,
        best_epoch=best_epoch,
        timings=timings,
        out=out,
        splits=splits,
        resumed=run.resumed,
    )


def build_model(config: TrainConfig) -> StackedEnsemble:
    """Builds the `StackedEnsemble` a config describes, untrained.

    ImageNet backbone names get `config.weights`; compact backbone names
    (`keras_cxr.training.COMPACT_BACKBONES`) are built from scratch. With
    `train_backbones`, every backbone layer trains, BatchNorm included when the weights
    are random (a from-scratch network needs its batch statistics; pretrained BatchNorm
    stays frozen).

    Args:
        config: The settings.

    Returns:
        The model, not compiled.

    Raises:
        ValueError: For an unknown backbone name.
        keras_cxr.WeightsUnavailableError: If ImageNet weights cannot be downloaded.

    Example:
        >>> model = keras_cxr.training.build_model(
        ...     keras_cxr.training.TrainConfig.recipe("offline"))
    """
    shape = (config.image_size, config.image_size, 3)
    backbones: list[Any] = []
    for name in config.backbones:
        if name in COMPACT_BACKBONES:
            backbones.append(build_compact_backbone(name, shape))
        elif name in BACKBONES:
            backbones.append(name)
        else:
            known = sorted(BACKBONES) + sorted(COMPACT_BACKBONES)
            raise ValueError(
                f"Invalid value received for argument `backbones`. Expected names from "
                f"{known}. Received: backbones={name!r}"
            )
    named = [b for b in backbones if isinstance(b, str)]
    if named and config.weights is None and not config.train_backbones:
        warnings.warn(
            "Frozen backbones with random weights (weights=None, train_backbones=False) "
            "produce features a head cannot learn much from. Use weights='imagenet', or "
            "the 'offline' recipe, which trains compact backbones end to end.",
            stacklevel=2,
        )
    model = StackedEnsemble(
        backbones=backbones,
        input_shape=shape,
        head_units=tuple(config.head_units),
        dropout=config.dropout,
        weights=config.weights if named else None,
        trainable_backbones=config.train_backbones,
    )
    if config.train_backbones:
        _train_batchnorm(model, from_scratch=config.weights is None)
    return model


def predict_probabilities(
    model: keras.Model, images: np.ndarray, batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    """Positive-class probabilities of a binary model, batch by batch.

    Args:
        model: A model with a `(batch, 1)` sigmoid or `(batch, 2)` softmax output.
        images: `(N, H, W, C)` raw pixels.
        batch_size: Images per forward pass. Defaults to 32.
        progress: Show a progress bar. Defaults to False.

    Returns:
        float64 `(N,)` in [0, 1].

    Raises:
        ValueError: If the images do not match the model's input shape.

    Example:
        >>> p = keras_cxr.training.predict_probabilities(model, x_test)
    """
    from tqdm.auto import tqdm

    images = np.asarray(images)
    expected = tuple(model.input_shape[1:])
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise ValueError(
            f"Invalid value received for argument `images`. Expected a batch of shape "
            f"(N, {', '.join(map(str, expected))}) to match the model. Received: "
            f"images.shape={images.shape}"
        )
    outputs = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="predicting", disable=not progress, leave=False):
        batch = images[start : start + batch_size].astype(np.float32)
        outputs.append(keras.ops.convert_to_numpy(model.predict_on_batch(batch)))
    predictions = np.concatenate(outputs) if outputs else np.zeros((0, 1), np.float32)
    return positive_probability(predictions)


def positive_probability(predictions: np.ndarray) -> np.ndarray:
    """The PNEUMONIA probability from a `(N, 1)` sigmoid or `(N, 2)` softmax output.

    Args:
        predictions: Model outputs, `(N, 1)` or `(N, 2)`.

    Returns:
        float64 `(N,)`: the sigmoid output, or the softmax column of class 1.

    Example:
        >>> keras_cxr.training.positive_probability(np.array([[0.2, 0.8]]))
        array([0.8])
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    return predictions[:, 0] if predictions.shape[-1] == 1 else predictions[:, 1]


# --------------------------------------------------------------------------- internals


class _Run:
    """One training run: the stages share the model, data, output folder and resume state."""

    def __init__(self, config, out, model, splits, snapshot, timings):
        self.config = config
        self.out = out
        self.model = model
        self.splits = splits
        self.snapshot = snapshot
        self.timings = timings
        self.fingerprint = config.fingerprint()
        self.head: HeadModel | None = None
        self.val_features: np.ndarray | None = None
        self.resumed: list[tuple[str, int]] = []
        weights = splits.class_weight if config.class_weights else {0: 1.0, 1: 1.0}
        self.class_weight = {int(k): float(v) for k, v in weights.items()}

    # ---- stages
    def main_stage(self) -> tuple[dict[str, list[float]], int | None]:
        config = self.config
        tic = time.perf_counter()
        restore = self._restore_for(_MAIN)
        if config.mode == "cached_features":
            history, best_epoch = self._fit_head(restore)
        else:
            history, best_epoch = self._fit_images(
                _MAIN, config.learning_rate, config.epochs, config.augment, restore
            )
        self.timings["main"] = time.perf_counter() - tic - self.timings.get("features", 0.0)
        return history, best_epoch

    def fine_tune_stage(self) -> dict[str, list[float]]:
        config = self.config
        tic = time.perf_counter()
        self.model.unfreeze(config.fine_tune_last)
        history, _ = self._fit_images(
            _FINE_TUNE,
            config.fine_tune_learning_rate,
            config.fine_tune_epochs,
            True,
            self._restore_for(_FINE_TUNE),
        )
        self.timings["fine_tune"] = time.perf_counter() - tic
        return history

    def val_probabilities(self) -> np.ndarray:
        if (
            self.head is not None
            and self.val_features is not None
            and not (self.config.fine_tune_last and self.config.fine_tune_epochs)
        ):
            return positive_probability(
                keras.ops.convert_to_numpy(self.head.predict(self.val_features, verbose=0))
            )
        return predict_probabilities(self.model, self.splits.val.images, self.config.batch_size)

    # ---- main stage on cached features
    def _fit_head(self, restore):
        config, splits = self.config, self.splits
        tic = time.perf_counter()
        train_features = self._cached_features("train", splits.train.images, config.augmented_views)
        self.val_features = self._cached_features("val", splits.val.images, 0)[0]
        self.timings["features"] = time.perf_counter() - tic
        self.head = HeadModel(self.model)
        self._compile(self.head, config.learning_rate)
        if restore is not None and restore["done"]:
            self._load_weights(self.head, self._best_path(_MAIN))
            copy_head_weights(self.head, self.model)
            return self._history(), restore["state"].get("best_checkpoint", {}).get("best_epoch")
        initial_epoch = self._resume_weights(self.head, restore)
        labels = splits.train.labels.astype(np.float32)
        sample_weights = np.asarray(
            [self.class_weight[int(y)] for y in splits.train.labels], np.float32
        )
        steps = math.ceil(len(labels) / config.batch_size)
        batches = _feature_batches(
            train_features,
            labels,
            sample_weights,
            config.batch_size,
            config.seed,
            initial_epoch,
            config.epochs,
        )
        val = (self.val_features, splits.val.labels.astype(np.float32)[:, None])
        callbacks, best = self._callbacks(_MAIN, self.head, restore, explain_through=self.head)
        self.head.fit(
            batches,
            steps_per_epoch=steps,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            validation_data=val,
            callbacks=callbacks,
            shuffle=False,  # `_feature_batches` shuffles, reproducibly per epoch
            verbose=0,
        )
        self._load_weights(self.head, self._best_path(_MAIN))
        copy_head_weights(self.head, self.model)
        return self._history(), best.best_epoch

    def _cached_features(self, name: str, images: np.ndarray, views: int) -> np.ndarray:
        """Features from `<out>/cache/` when a run with this configuration computed them."""
        path = self.out / "cache" / f"features_{name}_{self.fingerprint}_{views}.npy"
        if path.is_file():
            features = np.load(path)
            if features.shape[:2] == (1 + views, len(images)):
                return features
        features = extract_features(
            self.model,
            images,
            augmented_views=views,
            batch_size=max(self.config.batch_size, 32),
            seed=self.config.seed,
            progress=self.config.progress,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        from keras_cxr.atomic import atomic_write

        atomic_write(path, lambda p: np.save(p, features), suffix=".npy")
        return features

    # ---- training on images
    def _fit_images(self, stage, learning_rate, epochs, augment, restore):
        config, splits = self.config, self.splits
        self._compile(self.model, learning_rate)
        if restore is not None and restore["done"]:
            self._load_weights(self.model, self._best_path(stage))
            return self._history(), restore["state"].get("best_checkpoint", {}).get("best_epoch")
        initial_epoch = self._resume_weights(self.model, restore)
        train = _image_dataset(
            splits.train, self.class_weight, config.batch_size, True, augment, config.seed
        )
        val = _image_dataset(splits.val, None, config.batch_size, False, False, config.seed)
        callbacks, best = self._callbacks(stage, self.model, restore, explain_through=None)
        self.model.fit(
            train,
            epochs=epochs,
            initial_epoch=initial_epoch,
            validation_data=val,
            callbacks=callbacks,
            shuffle=False,  # the dataset shuffles itself
            verbose=0,
        )
        self._load_weights(self.model, self._best_path(stage))
        return self._history(), best.best_epoch

    # ---- shared plumbing
    def _compile(self, model: keras.Model, learning_rate: float) -> None:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
            # XLA compilation of a whole backbone takes minutes on a CPU; graph mode is
            # ready in seconds and runs these small batches as fast.
            jit_compile=False,
        )

    def _callbacks(self, stage, trained, restore, explain_through):
        config = self.config
        checkpoints = self.out / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
        best = BestCheckpoint(self._best_path(stage), config.monitor)
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
        gradcam = self._gradcam_callback(stage)
        if gradcam is not None:
            callbacks.append(
                _ExplainEnsemble(gradcam, self.model, explain_through)
                if explain_through is not None
                else gradcam
            )
        callbacks += [best, early_stopping, plateau]
        _truncate_history(self.out / HISTORY_FILE, restore)
        callbacks.append(_StageCSVLogger(self.out / HISTORY_FILE, stage))
        if config.tensorboard:
            callbacks.append(
                keras.callbacks.TensorBoard(
                    os.fspath(self.out / "logs" / "tensorboard" / stage), write_graph=False
                )
            )
        if config.progress:
            callbacks.append(EpochProgress(stage))
        callbacks.append(
            TrainingSnapshot(
                checkpoints / "last",
                stage,
                self.fingerprint,
                early_stopping=early_stopping,
                plateau=plateau,
                best=best,
                restore=None if restore is None else restore["state"],
                extra={"epochs": config.epochs if stage == _MAIN else config.fine_tune_epochs},
            )
        )
        return callbacks, best

    def _gradcam_callback(self, stage):
        config = self.config
        if not config.gradcam_images:
            return None
        from keras_cxr.callbacks import GradCAMCallback

        val = self.splits.val
        chosen = _balanced_sample(val.labels, config.gradcam_images, config.seed)
        return GradCAMCallback(
            val.images[chosen].astype(np.float32),
            labels=val.labels[chosen],
            log_dir=self.out / "logs" / "gradcam" / stage,
            every=config.gradcam_every,
            method=config.gradcam_method,
            max_images=config.gradcam_images,
        )

    def _best_path(self, stage: str) -> Path:
        return self.out / "checkpoints" / f"best_{stage}.weights.h5"

    def _restore_for(self, stage: str):
        """The snapshot to continue `stage` from, with `done` when that stage finished."""
        if self.snapshot is None:
            return None
        state, weights = self.snapshot
        order = [_MAIN, _FINE_TUNE]
        if order.index(state["stage"]) > order.index(stage):
            return {"state": state, "weights": weights, "done": True}
        if state["stage"] != stage:
            return None
        epochs = self.config.epochs if stage == _MAIN else self.config.fine_tune_epochs
        done = state["stopped"] or state["epoch"] + 1 >= epochs
        return {"state": state, "weights": weights, "done": done}

    def _resume_weights(self, model: keras.Model, restore) -> int:
        if restore is None:
            return 0
        self._load_weights(model, restore["weights"])
        epoch = int(restore["state"]["epoch"]) + 1
        self.resumed.append((restore["state"]["stage"], epoch))
        if self.config.progress:
            print(f"Resuming the {restore['state']['stage']} stage at epoch {epoch + 1}.")
        return epoch

    @staticmethod
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

    def _history(self) -> dict[str, list[float]]:
        return read_history(self.out / HISTORY_FILE)


class _ExplainEnsemble(keras.callbacks.Callback):
    """Runs a `GradCAMCallback` on the full ensemble while `fit` trains its `HeadModel`.

    The head's current weights are copied into the ensemble before each epoch's
    explanation, so the heatmaps show the model as it is at that epoch.
    """

    def __init__(self, callback, ensemble, head):
        super().__init__()
        self.callback, self.ensemble, self.head = callback, ensemble, head

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)

    def on_train_begin(self, logs=None):
        copy_head_weights(self.head, self.ensemble)
        self.callback.set_model(self.ensemble)
        self.callback.on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        copy_head_weights(self.head, self.ensemble)
        self.callback.on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        copy_head_weights(self.head, self.ensemble)
        self.callback.on_train_end(logs)


class _StageCSVLogger(keras.callbacks.CSVLogger):
    """`CSVLogger` that appends, and adds the stage name and the 0-based epoch to each row."""

    def __init__(self, path: Path, stage: str):
        super().__init__(os.fspath(path), append=True)
        self.stage = stage

    def on_epoch_end(self, epoch, logs=None):
        logs = {"stage": self.stage, **(logs or {})}
        super().on_epoch_end(epoch, logs)


def read_history(path: str | os.PathLike) -> dict[str, list[float]]:
    """Reads `history.csv` into log key → values (NaN for empty cells, stages included).

    Args:
        path: The CSV written by `train`.

    Returns:
        A dict of column → list, `"epoch"` as ints and `"stage"` as strings.

    Example:
        >>> keras_cxr.training.read_history("runs/train/history.csv")["val_auc"][-1]
        0.98
    """
    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    history: dict[str, list[Any]] = {}
    for row in rows:
        for key, value in row.items():
            if key == "stage":
                history.setdefault(key, []).append(value)
            elif key == "epoch":
                history.setdefault(key, []).append(int(value))
            else:
                history.setdefault(key, []).append(
                    float(value) if value not in ("", None) else math.nan
                )
    return history


def _truncate_history(path: Path, restore) -> None:
    """Drops rows the interrupted run wrote after its last snapshot, so no epoch repeats."""
    if restore is None or not path.is_file():
        return
    stage, epoch = restore["state"]["stage"], int(restore["state"]["epoch"])
    with open(path, newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        rows = list(reader)
    if header is None:
        return
    stage_col, epoch_col = header.index("stage"), header.index("epoch")
    kept = [row for row in rows if not (row[stage_col] == stage and int(row[epoch_col]) > epoch)]
    if len(kept) != len(rows):
        from keras_cxr.atomic import atomic_write

        def write(temporary: Path) -> None:
            with open(temporary, "w", newline="") as file:
                writer = csv.writer(file)
                writer.writerow(header)
                writer.writerows(kept)

        atomic_write(path, write)


def _feature_batches(features, labels, weights, batch_size, seed, first_epoch, epochs):
    """Yields `(features, labels, weights)` batches, epoch after epoch, forever.

    Each epoch visits every image once, in an order and a view drawn from `(seed,
    epoch)`, so a resumed run sees exactly the batches the interrupted one would have.
    """
    views, count = features.shape[:2]
    epoch = first_epoch
    while True:
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(count)
        chosen_views = rng.integers(0, views, count)
        for start in range(0, count, batch_size):
            index = order[start : start + batch_size]
            yield (
                features[chosen_views[index], index],
                labels[index, None],
                weights[index],
            )
        epoch += 1


def _image_dataset(image_set: ImageSet, class_weight, batch_size, shuffle, augment, seed):
    import tensorflow as tf

    from keras_cxr.data.augmentation import make_augmentation

    labels = image_set.labels.astype(np.float32)[:, None]
    if class_weight is None:
        dataset = tf.data.Dataset.from_tensor_slices((image_set.images, labels))
    else:
        weights = np.asarray([class_weight[int(y)] for y in image_set.labels], np.float32)
        dataset = tf.data.Dataset.from_tensor_slices((image_set.images, labels, weights))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(
        lambda x, *rest: (tf.cast(x, tf.float32), *rest), num_parallel_calls=tf.data.AUTOTUNE
    )
    if augment:
        augmentation = make_augmentation(seed=seed)
        dataset = dataset.map(
            lambda x, *rest: (augmentation(x, training=True), *rest),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _train_batchnorm(model: StackedEnsemble, from_scratch: bool) -> None:
    """Lets the backbones' BatchNorm layers learn when the backbones start from scratch.

    `StackedBackbones` keeps BatchNorm frozen, right for pretrained weights; random
    BatchNorm statistics would never fit the data, so from-scratch training unfreezes
    them (their moving statistics then follow the training batches).
    """
    if not from_scratch:
        return
    for net in model.backbones.values():
        for layer in net.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = True


def _balanced_sample(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Up to `count` indices alternating between the classes, in a seeded random order."""
    rng = np.random.default_rng(seed)
    per_class = [list(rng.permutation(np.flatnonzero(labels == label))) for label in (0, 1)]
    chosen: list[int] = []
    while len(chosen) < count and any(per_class):
        for members in per_class:
            if members and len(chosen) < count:
                chosen.append(int(members.pop(0)))
    return np.asarray(sorted(chosen), dtype=np.int64)


def _check_data_folder(data) -> None:
    """Fails before any model is built when the folder cannot be a chest X-ray data set."""
    from keras_cxr.data import index_chest_xray

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index_chest_xray(data)


def _check_splits(splits: ImageSplits, config: TrainConfig) -> None:
    for name in ("train", "val"):
        part = getattr(splits, name)
        if part is None or len(set(part.labels.tolist())) < 2:
            raise ValueError(
                f"The {name} split needs images of both classes; it has "
                f"{0 if part is None else len(part)} images of "
                f"{0 if part is None else len(set(part.labels.tolist()))} class(es). Add "
                "images, or raise `val_fraction`."
            )
        size = part.images.shape[1:3]
        if tuple(size) != (config.image_size, config.image_size):
            raise ValueError(
                f"The {name} images are {size[1]}×{size[0]} pixels but the model expects "
                f"{config.image_size}×{config.image_size}. Load them with "
                f"image_size={config.image_size}."
            )


def check_writable(out: str | os.PathLike) -> None:
    """Fails early if the folder `out` could not be created or written, creating nothing.

    Args:
        out: A folder that may not exist yet.

    Raises:
        NotADirectoryError: If `out`, or a folder on its path, is a file.
        PermissionError: If the nearest existing folder is not writable.

    Example:
        >>> keras_cxr.training.check_writable("runs/new/deeper")  # creates nothing
    """
    out = Path(out).absolute()
    for candidate in (out, *out.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise NotADirectoryError(
                    f"Cannot write to the output folder {str(out)!r}: {str(candidate)!r} is a file."
                )
            if not os.access(candidate, os.W_OK | os.X_OK):
                raise PermissionError(
                    f"Cannot write to the output folder {str(out)!r}: {str(candidate)!r} is "
                    "not writable."
                )
            return


def _prepare_out(out: Path, config: TrainConfig):
    """Creates `out`, refusing to mix two runs; returns the snapshot to resume, or None."""
    out.mkdir(parents=True, exist_ok=True)
    probe = out / f".write-test-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()
    snapshot = read_snapshot(out / "checkpoints" / "last")
    has_run = snapshot is not None or (out / HISTORY_FILE).exists()
    if config.resume:
        if snapshot is None:
            if has_run:
                raise RunExistsError(
                    f"{str(out)!r} holds a run without a resume snapshot; start over with "
                    "overwrite=True (--overwrite)."
                )
            return None
        state, _ = snapshot
        if state.get("fingerprint") != config.fingerprint():
            raise RunExistsError(
                f"The run in {str(out)!r} was made with other settings; resume it with the "
                "same settings, or start over with overwrite=True (--overwrite)."
            )
        return snapshot
    if has_run:
        if not config.overwrite:
            raise RunExistsError(
                f"{str(out)!r} already holds a training run. Continue it with resume=True "
                "(--resume), start over with overwrite=True (--overwrite), or pick another "
                "output folder."
            )
        for name in ("checkpoints", "logs", "cache", HISTORY_FILE, SUMMARY_FILE):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    return None
