"""`keras_cxr.training.history`: the per-epoch CSV, read back, truncated and searched."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_cxr.training import read_history
from keras_cxr.training.history import StageCSVLogger, best_epoch, truncate_history


def _write(path, rows):
    path.write_text(
        "stage,epoch,val_loss,val_auc\n"
        + "".join(f"{stage},{epoch},{loss},{auc}\n" for stage, epoch, loss, auc in rows)
    )


def test_logger_rows_carry_the_stage_and_read_back_typed(tmp_path):
    path = tmp_path / "history.csv"
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[StageCSVLogger(path, "main")])
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0, callbacks=[StageCSVLogger(path, "ft")])
    history = read_history(path)
    assert history["stage"] == ["main", "main", "ft"]
    assert history["epoch"] == [0, 1, 2]
    assert all(isinstance(value, float) for value in history["loss"])


def test_missing_file_reads_as_empty_and_empty_cells_as_nan(tmp_path):
    assert read_history(tmp_path / "none.csv") == {}
    path = tmp_path / "history.csv"
    path.write_text("stage,epoch,val_auc,loss\nmain,0,,NA\n")
    row = read_history(path)
    assert math.isnan(row["val_auc"][0]) and math.isnan(row["loss"][0])


def test_truncate_drops_only_later_rows_of_that_stage(tmp_path):
    path = tmp_path / "history.csv"
    _write(path, [("main", 0, 1, 0.5), ("main", 1, 0.9, 0.6), ("main", 2, 0.8, 0.7)])
    truncate_history(path, "main", 0)
    assert read_history(path)["epoch"] == [0]
    truncate_history(path, "fine_tune", 0)  # no such rows: the file stays as it is
    assert read_history(path)["epoch"] == [0]
    truncate_history(tmp_path / "absent.csv", "main", 0)
    assert not (tmp_path / "absent.csv").exists()


def test_best_epoch_follows_the_monitor_direction_per_stage(tmp_path):
    path = tmp_path / "history.csv"
    _write(
        path,
        [
            ("main", 0, 0.7, 0.80),
            ("main", 1, 0.5, 0.75),
            ("main", 2, "nan", 0.9),
            ("ft", 3, 0.1, 0.1),
        ],
    )
    history = read_history(path)
    assert best_epoch(history, "main", "val_loss") == 1  # lower is better, NaN skipped
    assert best_epoch(history, "main", "val_auc") == 2  # higher is better
    assert best_epoch(history, "ft", "val_loss") == 3
    assert best_epoch(history, "other", "val_loss") is None
