"""`history.csv`: one row per epoch of every stage, appended as training goes and read back.

Rows carry the stage name and the 0-based epoch, so a resumed run can drop the rows an
interrupted one wrote after its last snapshot and no epoch is ever listed twice.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import keras

from keras_cxr.atomic import atomic_write
from keras_cxr.training.checkpoints import is_improvement, monitor_mode

#: How a cell without a value reads: empty, or `keras.callbacks.CSVLogger`'s "NA".
_MISSING = ("", None, "NA")


class StageCSVLogger(keras.callbacks.CSVLogger):
    """`CSVLogger` that appends, and adds the stage name and the 0-based epoch to each row.

    Args:
        path: The CSV file (created, or appended to).
        stage: The stage name written in the `stage` column.

    Example:
        >>> logger = keras_cxr.training.history.StageCSVLogger("history.csv", "main")
        >>> model.fit(x, y, epochs=3, callbacks=[logger])
    """

    def __init__(self, path: str | os.PathLike, stage: str) -> None:
        super().__init__(os.fspath(path), append=True)
        self.stage = stage

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {"stage": self.stage, **(logs or {})}
        super().on_epoch_end(epoch, logs)


def read_history(path: str | os.PathLike) -> dict[str, list[Any]]:
    """Reads `history.csv` into log key → values (NaN for missing values, stages included).

    Args:
        path: The CSV written by `train`.

    Returns:
        A dict of column → list, `"epoch"` as ints and `"stage"` as strings; empty when
        the file does not exist.

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
                history.setdefault(key, []).append(math.nan if value in _MISSING else float(value))
    return history


def best_epoch(history: dict[str, list[Any]], stage: str, monitor: str) -> int | None:
    """The 0-based epoch of `stage` whose `monitor` value was best (first of ties).

    Args:
        history: As returned by `read_history`.
        stage: The stage name.
        monitor: The log key, e.g. `"val_auc"` (higher is better for AUC and accuracy
            keys, lower for the others).

    Returns:
        The epoch, or None when the stage has no finite value of `monitor`.

    Example:
        >>> keras_cxr.training.history.best_epoch(
        ...     {"stage": ["main"] * 2, "epoch": [0, 1], "val_auc": [0.9, 0.95]},
        ...     "main", "val_auc")
        1
    """
    best = _best(history, stage, monitor)
    return None if best is None else best[1]


def best_value(history: dict[str, list[Any]], stage: str, monitor: str) -> float | None:
    """The best `monitor` value of `stage` (see `best_epoch`), or None when none is finite.

    Args:
        history: As returned by `read_history`.
        stage: The stage name.
        monitor: The log key.

    Returns:
        The value.

    Example:
        >>> keras_cxr.training.history.best_value(
        ...     {"stage": ["main"] * 2, "epoch": [0, 1], "val_loss": [0.3, 0.2]},
        ...     "main", "val_loss")
        0.2
    """
    best = _best(history, stage, monitor)
    return None if best is None else best[0]


def _best(history: dict[str, list[Any]], stage: str, monitor: str) -> tuple[float, int] | None:
    mode = monitor_mode(monitor)
    best: tuple[float, int] | None = None
    for row_stage, epoch, value in zip(
        history.get("stage", []), history.get("epoch", []), history.get(monitor, [])
    ):
        if row_stage != stage or not math.isfinite(value):
            continue
        if best is None or is_improvement(value, best[0], mode):
            best = (value, epoch)
    return best


def truncate_history(path: str | os.PathLike, stage: str, last_epoch: int) -> None:
    """Drops the rows of `stage` after `last_epoch`, atomically, so no epoch repeats.

    Args:
        path: The CSV file; nothing happens when it does not exist.
        stage: The stage whose later rows go.
        last_epoch: The last 0-based epoch kept.

    Example:
        >>> keras_cxr.training.history.truncate_history("history.csv", "main", 3)
    """
    path = Path(path)
    if not path.is_file():
        return
    with open(path, newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        rows = list(reader)
    if header is None:
        return
    stage_col, epoch_col = header.index("stage"), header.index("epoch")
    kept = [
        row for row in rows if not (row[stage_col] == stage and int(row[epoch_col]) > last_epoch)
    ]
    if len(kept) == len(rows):
        return

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(header)
            writer.writerows(kept)

    atomic_write(path, write)
