"""Atomic files, best checkpoints and resume snapshots, without a training run."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from keras_cxr.atomic import (
    atomic_folder,
    atomic_write,
    atomic_write_json,
    existing_snapshot,
)
from keras_cxr.models.metadata import read_metadata, save_model
from keras_cxr.training import BestCheckpoint, TrainingSnapshot, read_snapshot


def small_model(compiled: bool = True) -> keras.Model:
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, outputs)
    if compiled:
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    return model


# ----------------------------------------------------------------- atomic writes
def test_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"auc": 0.9})

    def crash(temporary):
        temporary.write_text('{"auc": 0.')  # half-written
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, crash)
    assert json.loads(path.read_text()) == {"auc": 0.9}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_keep_previous_renames_the_replaced_file(tmp_path):
    path = tmp_path / "best.weights.h5"
    atomic_write(path, lambda p: p.write_bytes(b"first"), keep_previous=True)
    atomic_write(path, lambda p: p.write_bytes(b"second"), keep_previous=True)
    assert path.read_bytes() == b"second"
    assert (tmp_path / "best.weights.h5.prev").read_bytes() == b"first"


def test_json_turns_numpy_and_non_finite_values_into_plain_json(tmp_path):
    path = atomic_write_json(
        tmp_path / "x.json", {"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")}
    )
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1], "c": None}


def test_folder_snapshot_falls_back_to_prev_between_the_two_renames(tmp_path):
    folder = tmp_path / "last"
    for value in ("1", "2"):
        with atomic_folder(folder) as temporary:
            (temporary / "state.json").write_text(value)
    assert (folder / "state.json").read_text() == "2"
    assert (tmp_path / "last.prev" / "state.json").read_text() == "1"
    # A kill right after `last` was moved to `last.prev` leaves only the previous one.
    import shutil

    shutil.rmtree(folder)
    assert existing_snapshot(folder) == tmp_path / "last.prev"


def test_failed_folder_snapshot_keeps_the_old_one(tmp_path):
    folder = tmp_path / "last"
    with atomic_folder(folder) as temporary:
        (temporary / "state.json").write_text("good")
    with pytest.raises(RuntimeError), atomic_folder(folder) as temporary:
        (temporary / "state.json").write_text("half")
        raise RuntimeError("killed")
    assert (folder / "state.json").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


# ----------------------------------------------------------------- model files
def test_saved_model_carries_metadata_and_still_loads_in_safe_mode(tmp_path):
    model = small_model(compiled=False)
    path = save_model(model, tmp_path / "model.keras", {"threshold": np.float64(0.42)})
    assert read_metadata(path) == {"threshold": 0.42}
    loaded = keras.models.load_model(path, safe_mode=True)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_metadata_of_a_plain_keras_file_is_empty(tmp_path):
    model = small_model(compiled=False)
    model.save(tmp_path / "plain.keras")
    assert read_metadata(tmp_path / "plain.keras") == {}


def test_model_file_must_end_in_keras(tmp_path):
    with pytest.raises(ValueError, match=r"\.keras"):
        save_model(small_model(), tmp_path / "model.h5")


# ----------------------------------------------------------------- callbacks
def test_best_checkpoint_saves_only_improvements(tmp_path):
    model = small_model()
    checkpoint = BestCheckpoint(tmp_path / "best.weights.h5", "val_auc")
    checkpoint.set_model(model)
    assert checkpoint.mode == "max"
    writes = []
    for epoch, value in enumerate([0.6, 0.7, 0.65, float("nan"), 0.71]):
        before = (tmp_path / "best.weights.h5").stat().st_mtime_ns if writes else None
        checkpoint.on_epoch_end(epoch, {"val_auc": value})
        after = (tmp_path / "best.weights.h5").stat().st_mtime_ns
        writes.append(after != before)
    assert writes == [True, True, False, False, True]
    assert (checkpoint.best, checkpoint.best_epoch) == (0.71, 4)


def test_snapshot_restores_the_counters_of_early_stopping_and_plateau(tmp_path):
    model = small_model()
    model.optimizer.build(model.trainable_variables)
    early = keras.callbacks.EarlyStopping("val_loss", patience=5)
    plateau = keras.callbacks.ReduceLROnPlateau("val_loss", patience=2)
    best = BestCheckpoint(tmp_path / "best.weights.h5")
    snapshot = TrainingSnapshot(tmp_path / "last", "main", "abc", early, plateau, best)
    callbacks = keras.callbacks.CallbackList([best, early, plateau, snapshot], model=model)
    callbacks.on_train_begin()
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.95]):
        callbacks.on_epoch_end(epoch, {"val_loss": loss})
    state, weights = read_snapshot(tmp_path / "last")
    assert state["epoch"] == 3 and weights.is_file()
    assert state["early_stopping"]["wait"] == 2
    assert state["best_checkpoint"] == {"best": 0.8, "best_epoch": 1}
    assert state["learning_rate"] == pytest.approx(0.001)  # reduced once from 0.01

    fresh_early = keras.callbacks.EarlyStopping("val_loss", patience=5)
    fresh_plateau = keras.callbacks.ReduceLROnPlateau("val_loss", patience=2)
    fresh_best = BestCheckpoint(tmp_path / "best.weights.h5")
    restored = TrainingSnapshot(
        tmp_path / "last", "main", "abc", fresh_early, fresh_plateau, fresh_best, restore=state
    )
    fresh_model = small_model()
    keras.callbacks.CallbackList(
        [fresh_best, fresh_early, fresh_plateau, restored], model=fresh_model
    ).on_train_begin()
    assert (fresh_early.wait, fresh_early.best) == (2, 0.8)
    assert (fresh_plateau.wait, fresh_plateau.best) == (state["plateau"]["wait"], 0.8)
    assert (fresh_best.best, fresh_best.best_epoch) == (0.8, 1)
    assert float(keras.ops.convert_to_numpy(fresh_model.optimizer.learning_rate)) == (
        pytest.approx(0.001)
    )


def test_no_snapshot_reads_as_none(tmp_path):
    assert read_snapshot(tmp_path / "last") is None
