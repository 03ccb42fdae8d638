"""`train`: the reference pneumonia pipeline, from a Kermany folder to a saved, thresholded model.

Steps:

1. Check the folder and split it by patient (`keras_cxr.data.scan_chest_xray`, once).
2. Build the `keras_cxr.StackedEnsemble` (`keras_cxr.training.build_model`).
3. Prepare the run folder (`keras_cxr.training.run_folder`) and decode the splits.
4. Main stage, by `TrainConfig.mode` (`keras_cxr.training.stages`):
   - `"cached_features"` (frozen backbones, the default): pooled features of every
     training image and of `augmented_views` fixed augmented views are computed once;
     a `keras_cxr.models.HeadModel`, which shares the ensemble's head layers, trains on
     them, each epoch showing each image in one random view.
   - `"frozen_images"`: plain `fit` on images, backbones recomputed every batch (the
     baseline of `benchmarks/training_pipeline.py`).
   - `"end_to_end"`: everything trains on images (the offline recipe).
5. Optional fine-tuning of the last `fine_tune_last` backbone layers at a lower rate.
6. A temperature is fitted on the validation logits (`keras_cxr.training.calibrating`);
   the shift-aware validation (`keras_cxr.training.shift_validation`) grades the calibrated
   model on the validation cohorts and on shifted copies of the validation images; the
   decision threshold is chosen for the operating point on the calibrated validation
   probabilities (or, with `threshold_data="shifted"`, on them and the copies pooled);
   the model is saved as `model.keras` with the threshold, temperature and operating
   point inside (`keras_cxr.models.read_metadata`). A three-class model gets the same
   temperature scaling (of its softmax logits) and shift-aware validation
   (`keras_cxr.training.multiclass_shift`), and no threshold: the arg-max decides.
   The metadata also holds the model's version record and a summary of its training
   data (`keras_cxr.training.provenance`); a model card (`MODEL_CARD.md`,
   `model_card.json`, `keras_cxr.training.model_cards`) is written beside the model.

Every stage writes `history.csv`, TensorBoard logs, Grad-CAM grids of validation images
(`GradCAMCallback`), the best weights and a resume snapshot after each epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_cxr.atomic import atomic_write_json
from keras_cxr.data.image_splits import ImageSplits, load_image_splits
from keras_cxr.data.index import scan_chest_xray
from keras_cxr.metrics import classification_report
from keras_cxr.models.metadata import save_model
from keras_cxr.models.prediction import predict_logits
from keras_cxr.models.temperature import apply_temperature
from keras_cxr.training.calibrating import (
    calibrate_multiclass_on_validation,
    calibrate_on_validation,
    positive_probability_of,
)
from keras_cxr.training.config import TrainConfig
from keras_cxr.training.data_parallel import drops_partial_batches, padded, training_devices
from keras_cxr.training.history import read_history
from keras_cxr.training.model_building import build_model
from keras_cxr.training.model_cards import write_model_card
from keras_cxr.training.multiclass_evaluation import multiclass_metrics
from keras_cxr.training.multiclass_shift import measure_multiclass_shift
from keras_cxr.training.provenance import training_data_summary, version_record
from keras_cxr.training.resume import ResumeState
from keras_cxr.training.run_folder import (
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    SUMMARY_FILE,
    check_writable,
    prepare_run_folder,
)
from keras_cxr.training.shift_validation import measure_shift
from keras_cxr.training.stages import Run, fine_tune_stage, main_stage, val_logits


@dataclass
class TrainResult:
    """What `keras_cxr.training.train` produced.

    Attributes:
        model: The full image → probability model with the best weights.
        model_path: Where it was saved (`<out>/model.keras`, threshold inside).
        threshold: Decision threshold chosen on the validation split (on calibrated
            probabilities); None for the three-class task, decided by the arg-max.
        val_metrics: `keras_cxr.metrics.classification_report` on validation at
            `threshold`, of the calibrated probabilities; for the three-class task,
            `keras_cxr.training.multiclass_evaluation.multiclass_metrics` of the calibrated
            probabilities.
        test_metrics: The same on the test split, or None without one.
        history: Log key → one value per epoch, every stage in order.
        best_epoch: 0-based best epoch of the main stage.
        timings: Seconds spent per step ("load", "features", "main", "fine_tune",
            "shift_validation", "total").
        out: The output folder.
        splits: The decoded data (not saved).
        resumed: `(stage, 0-based epoch)` where an interrupted run was continued; empty
            for a fresh run.
        temperature: Temperature fitted on validation (1 without calibration), for the
            binary and the three-class task.
        shift_metrics: The shift-aware validation at `threshold`
            (`keras_cxr.training.ShiftValidation.report`; for the three-class task, at the
            arg-max, `keras_cxr.training.multiclass_shift.MulticlassShiftValidation.report`),
            or None when `config.shift_validation` is off.

    Example:
        >>> result = keras_cxr.training.train(config)
        >>> result.val_metrics["roc_auc"], result.model_path
        (0.981, PosixPath('runs/train/model.keras'))
    """

    model: keras.Model
    model_path: Path
    threshold: float | None
    val_metrics: dict[str, Any]
    test_metrics: dict[str, Any] | None
    history: dict[str, list[float]]
    best_epoch: int | None
    timings: dict[str, float]
    out: Path
    splits: ImageSplits | None = field(default=None, repr=False)
    resumed: list[tuple[str, int]] = field(default_factory=list)
    temperature: float = 1.0
    shift_metrics: dict[str, Any] | None = None


def train(config: TrainConfig, splits: ImageSplits | None = None) -> TrainResult:
    """Trains, checkpoints, thresholds and saves a pneumonia classifier.

    See the module docstring for the steps. With `config.resume`, an interrupted run in
    `config.out` continues from its last snapshot: the same epoch, weights, optimizer
    state, learning rate, early-stopping counter and best score. A folder that holds
    files but no run is refused unless `config.overwrite`. Nothing is downloaded unless
    `config.weights == "imagenet"`, which fails at once when offline. With
    `config.distribute`, every step runs data-parallel on this host's devices
    (`keras_cxr.training.data_parallel`); `batch_size` must be a multiple of their count.

    Args:
        config: The settings (`keras_cxr.training.TrainConfig`).
        splits: Already decoded data; None loads `config.data`.

    Returns:
        A `keras_cxr.training.TrainResult`.

    Raises:
        ValueError: For invalid settings or data (see `keras_cxr.data.load_image_splits`).
        FileNotFoundError: If `config.data` does not exist.
        RunExistsError: If `config.out` holds a run and neither `resume` nor `overwrite`
            is set, holds other files and `overwrite` is not set, or `resume` is set for a
            different configuration.
        keras_cxr.WeightsUnavailableError: If ImageNet weights cannot be downloaded.
        OSError: If `config.out` cannot be written.
        RuntimeError: With `config.distribute` and fewer than 2 devices.
        NotImplementedError: With `config.distribute` under the PyTorch backend.

    Example:
        >>> config = keras_cxr.training.TrainConfig.recipe("offline", data="chest_xray")
        >>> result = keras_cxr.training.train(config)
        >>> result.val_metrics["roc_auc"]
        0.97
    """
    config.validate()
    # With `distribute`, the model is built, trained, evaluated and saved in the scope.
    with training_devices(config) as devices:
        return _train(config, splits, devices)


def _train(config: TrainConfig, splits: ImageSplits | None, devices: int) -> TrainResult:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    if splits is None and config.data is None:
        raise ValueError("TrainConfig.data is not set: pass the chest X-ray folder.")
    check_writable(config.out)
    index = None
    if splits is None:
        # Before any model is built: a folder that is no data set fails in seconds.
        index = scan_chest_xray(config.data, config.labels, config.val_fraction, config.seed)
    model = build_model(config)
    out = prepare_run_folder(config.out, config.resume, config.overwrite)
    resume = ResumeState.read(out, config.fingerprint()) if config.resume else None
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
            index=index,
            labels=config.labels,
        )
        timings["load"] = time.perf_counter() - tic
    _check_splits(splits, config, devices)
    atomic_write_json(out / CONFIG_FILE, config.to_dict())
    run = Run(config, out, model, splits, resume, timings, devices=devices)
    best_epoch = main_stage(run)
    if config.fine_tune_last and config.fine_tune_epochs:
        fine_tune_stage(run)
    shift = None
    if config.num_classes > 1:  # the three-class task: the arg-max decides, no threshold
        calibration = calibrate_multiclass_on_validation(
            splits.val.labels, val_logits(run), config.calibrate
        )
        threshold, temperature = None, calibration.temperature
        tic = time.perf_counter()
        if config.shift_validation:
            shift = measure_multiclass_shift(run, calibration.probabilities, temperature)
        timings["shift_validation"] = time.perf_counter() - tic
        val_metrics, test_metrics = _multiclass_metrics(
            run, calibration.probabilities, temperature, devices
        )
        operating_point = calibration.operating_point
        calibration_metadata: dict = calibration.metadata()
    else:
        spec = config.operating_point or config.threshold_method
        calibration = calibrate_on_validation(
            splits.val.labels, val_logits(run), spec, config.calibrate
        )
        threshold, temperature = calibration.threshold, calibration.temperature
        val_probability = calibration.probabilities
        tic = time.perf_counter()
        if config.shift_validation:
            shift = measure_shift(run, val_probability, temperature)
            threshold = shift.threshold(spec, config.threshold_data)
        timings["shift_validation"] = time.perf_counter() - tic
        operating_point = calibration.operating_point
        calibration_metadata = {**calibration.metadata(), "threshold": threshold}
        val_metrics = classification_report(splits.val.labels, val_probability, threshold)
        test_metrics = None
        if splits.test is not None:
            test_images = padded(splits.test.images, devices)
            test_logits = predict_logits(model, test_images, config.batch_size)[: len(splits.test)]
            test_probabilities = positive_probability_of(test_logits, temperature)
            test_metrics = classification_report(splits.test.labels, test_probabilities, threshold)
    shift_metrics = None if shift is None else shift.report(threshold)
    metadata = {
        **calibration_metadata,
        "threshold_method": config.threshold_method,
        "threshold_split": "validation" if shift is None else config.threshold_data,
        "class_names": list(splits.class_names),
        "labels": config.labels,
        "decision": "threshold" if threshold is not None else "argmax",
        "image_size": config.image_size,
        "color_mode": "rgb",
        "recipe": config.recipe_name,
        "config": config.to_dict(),
        "val_metrics": val_metrics,
        "best_epoch": best_epoch,
        "fine_tune": run.fine_tune,
        "version": version_record(model, config.fingerprint(), config.weights),
        "training_data": training_data_summary(splits, config.data, _split_rule(config)),
    }
    model_path = save_model(model, out / MODEL_FILE, metadata)
    timings["total"] = time.perf_counter() - started
    atomic_write_json(
        out / SUMMARY_FILE,
        {
            "model": model_path,
            "threshold": threshold,
            "temperature": temperature,
            "operating_point": operating_point,
            "val_metrics": val_metrics,
            "test_metrics": test_metrics,
            "shift_validation": shift_metrics,
            "best_epoch": best_epoch,
            "fine_tune": run.fine_tune,
            "timings_s": timings,
            "images": {
                name: 0 if part is None else len(part)
                for name, part in (
                    ("train", splits.train),
                    ("val", splits.val),
                    ("test", splits.test),
                )
            },
        },
    )
    write_model_card(model_path, out)
    return TrainResult(
        model=model,
        model_path=model_path,
        threshold=threshold,
        val_metrics=val_metrics,
        test_metrics=test_metrics,
        shift_metrics=shift_metrics,
        history=read_history(out / HISTORY_FILE),
        best_epoch=best_epoch,
        timings=timings,
        out=out,
        splits=splits,
        resumed=run.resumed,
        temperature=temperature,
    )


def _split_rule(config: TrainConfig) -> str:
    """How `load_image_splits` split the run's folder, in words (for the model card)."""
    test = (
        f"{config.test_fraction:.0%} of train/'s patients"
        if config.test_fraction
        else "the folder's test/, if any"
    )
    return (
        f"by patient (seed {config.seed}): validation {config.val_fraction:.0%} of train/'s "
        f"patients, test {test}"
    )


def _check_splits(splits: ImageSplits, config: TrainConfig, devices: int) -> None:
    if drops_partial_batches(devices) and len(splits.train) < config.batch_size:
        raise ValueError(
            f"Data-parallel training drops each epoch's last partial batch, and the "
            f"{len(splits.train)} training images make no full batch of "
            f"{config.batch_size}. Lower `batch_size`, or add images."
        )
    for name in ("train", "val"):
        part = getattr(splits, name)
        classes = 0 if part is None else len(set(part.labels.tolist()))
        wanted = len(splits.class_names)
        if classes < wanted:
            raise ValueError(
                f"The {name} split needs images of {'both' if wanted == 2 else 'all'} "
                f"classes; it has "
                f"{0 if part is None else len(part)} images of {classes} class(es). Add "
                "images, or raise `val_fraction`."
            )
        size = part.images.shape[1:3]
        if tuple(size) != (config.image_size, config.image_size):
            raise ValueError(
                f"The {name} images are {size[1]}×{size[0]} pixels but the model expects "
                f"{config.image_size}×{config.image_size}. Load them with "
                f"image_size={config.image_size}."
            )


def _multiclass_metrics(
    run: Run, val_probabilities: np.ndarray, temperature: float, devices: int
) -> tuple[dict, dict | None]:
    """`(val_metrics, test_metrics)` of a k-class model, of calibrated probabilities."""
    splits, names = run.splits, tuple(run.splits.class_names)
    val_metrics = multiclass_metrics(splits.val.labels, val_probabilities, names)
    if splits.test is None:
        return val_metrics, None
    images = padded(splits.test.images, devices)
    logits = predict_logits(run.model, images, run.config.batch_size)[: len(splits.test)]
    test = multiclass_metrics(splits.test.labels, apply_temperature(logits, temperature), names)
    return val_metrics, test
