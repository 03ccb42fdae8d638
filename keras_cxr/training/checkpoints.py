"""Checkpoints that survive a crash: the best weights, and a snapshot to resume from.

`BestCheckpoint` keeps the weights of the best epoch so far; `TrainingSnapshot` writes,
after every epoch, everything needed to continue an interrupted run: the weights with the
optimizer state, the epoch, the learning rate and the counters and best scores of the
early-stopping, learning-rate and best-checkpoint callbacks. Files are written to a
temporary name and renamed into place, and the previous good version is kept as `.prev`,
so a kill at any instant leaves a complete checkpoint behind.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import keras

from keras_cxr.atomic import (
    atomic_folder,
    atomic_write,
    existing_snapshot,
    to_json,
)

WEIGHTS_FILE = "model.weights.h5"
STATE_FILE = "state.json"


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model's weights whenever `monitor` improves, atomically.

    Unlike `keras.callbacks.ModelCheckpoint`, the file is written under a temporary name
    and renamed, the file it replaces is kept as `<path>.prev`, and the best score is an
    attribute that `TrainingSnapshot` saves and restores, so a resumed run only saves an
    epoch that beats every epoch before the interruption.

    Args:
        path: Weights file, ending in `.weights.h5`.
        monitor: Log key to watch, e.g. `"val_loss"`. Defaults to `"val_loss"`.
        mode: `"min"`, `"max"`, or `"auto"` (max for keys containing "auc" or
            "accuracy"). Defaults to `"auto"`.

    Attributes:
        best: Best value seen so far, or None.
        best_epoch: 0-based epoch of `best`, or None.

    Example:
        >>> checkpoint = keras_cxr.training.BestCheckpoint("best.weights.h5", "val_auc")
        >>> model.fit(x, y, validation_data=(x_val, y_val), callbacks=[checkpoint])
    """

    def __init__(
        self, path: str | os.PathLike, monitor: str = "val_loss", mode: str = "auto"
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.mode = monitor_mode(monitor) if mode == "auto" else mode
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        value = float(value)
        if self.best is None or is_improvement(value, self.best, self.mode):
            atomic_write(self.path, self.model.save_weights, keep_previous=True)
            self.best, self.best_epoch = value, epoch

    def get_state(self) -> dict[str, Any]:
        """The attributes to save in a snapshot."""
        return {"best": self.best, "best_epoch": self.best_epoch}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores `get_state()`."""
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")


class TrainingSnapshot(keras.callbacks.Callback):
    """After every epoch, saves what `fit` needs to continue after an interruption.

    Put it **last** in `callbacks`: at the end of an epoch it records the state the other
    callbacks reached in that epoch, and at the start of training it restores their state
    after their own `on_train_begin` has reset it. The snapshot folder holds
    `model.weights.h5` (weights and optimizer variables) and `state.json`; it is swapped
    in atomically and the previous one kept as `<folder>.prev`.

    Args:
        folder: The snapshot folder.
        stage: Name of the training stage (a run may have several).
        fingerprint: Identifies the configuration; stored for resume checks.
        early_stopping: The run's `keras.callbacks.EarlyStopping`, or None.
        plateau: The run's `keras.callbacks.ReduceLROnPlateau`, or None.
        best: The run's `BestCheckpoint`, or None.
        restore: A state read by `read_snapshot` to restore at `on_train_begin`, or None.
        extra: JSON-serializable values stored with every snapshot.

    Example:
        >>> snapshot = keras_cxr.training.TrainingSnapshot("checkpoints/last", "main", "abc")
        >>> model.fit(x, y, epochs=20, callbacks=[early_stopping, snapshot])
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        stage: str,
        fingerprint: str,
        early_stopping: keras.callbacks.EarlyStopping | None = None,
        plateau: keras.callbacks.ReduceLROnPlateau | None = None,
        best: BestCheckpoint | None = None,
        restore: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.stage = stage
        self.fingerprint = fingerprint
        self.early_stopping = early_stopping
        self.plateau = plateau
        self.best = best
        self.restore = restore
        self.extra = dict(extra or {})

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.restore:
            return
        state = self.restore
        if self.early_stopping is not None and state.get("early_stopping"):
            saved = state["early_stopping"]
            self.early_stopping.wait = saved["wait"]
            self.early_stopping.best = saved["best"]
            self.early_stopping.best_epoch = saved.get("best_epoch", 0)
        if self.plateau is not None and state.get("plateau"):
            saved = state["plateau"]
            self.plateau.wait = saved["wait"]
            self.plateau.cooldown_counter = saved["cooldown_counter"]
            self.plateau.best = saved["best"]
        if self.best is not None and state.get("best_checkpoint"):
            self.best.set_state(state["best_checkpoint"])
        if state.get("learning_rate") is not None:
            self.model.optimizer.learning_rate = state["learning_rate"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state = {
            "stage": self.stage,
            "epoch": epoch,
            "fingerprint": self.fingerprint,
            "stopped": bool(getattr(self.model, "stop_training", False)),
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "logs": {key: float(value) for key, value in (logs or {}).items()},
            **self.extra,
        }
        if self.early_stopping is not None:
            state["early_stopping"] = {
                "wait": self.early_stopping.wait,
                "best": _finite_or_none(self.early_stopping.best),
                "best_epoch": self.early_stopping.best_epoch,
            }
        if self.plateau is not None:
            state["plateau"] = {
                "wait": self.plateau.wait,
                "cooldown_counter": self.plateau.cooldown_counter,
                "best": _finite_or_none(self.plateau.best),
            }
        if self.best is not None:
            state["best_checkpoint"] = self.best.get_state()
        with atomic_folder(self.folder) as temporary:
            self.model.save_weights(temporary / WEIGHTS_FILE)
            (temporary / STATE_FILE).write_text(json.dumps(to_json(state), indent=2))


def read_snapshot(folder: str | os.PathLike) -> tuple[dict[str, Any], Path] | None:
    """Reads the newest complete snapshot written by `TrainingSnapshot`.

    Args:
        folder: The snapshot folder given to `TrainingSnapshot`.

    Returns:
        `(state, weights_path)`, from `folder` or, if a crash hit between two renames,
        from `<folder>.prev`; None when there is no snapshot.

    Example:
        >>> state, weights = keras_cxr.training.read_snapshot("runs/x/checkpoints/last")
        >>> state["epoch"]
        7
    """
    found = existing_snapshot(folder)
    if found is None or not (found / STATE_FILE).is_file():
        return None
    state = json.loads((found / STATE_FILE).read_text())
    return state, found / WEIGHTS_FILE


def monitor_mode(monitor: str) -> str:
    """`"max"` for AUC or accuracy keys, `"min"` otherwise (losses)."""
    return "max" if ("auc" in monitor or "accuracy" in monitor) else "min"


def is_improvement(value: float, best: float, mode: str) -> bool:
    """Whether `value` beats `best` in `mode` ("min" or "max")."""
    return value < best if mode == "min" else value > best


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
