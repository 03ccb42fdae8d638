"""Best checkpoints and resume snapshots, without a training run."""

from __future__ import annotations

import keras
import pytest

from keras_cxr.training import BestCheckpoint, TrainingSnapshot, read_snapshot


def small_model(compiled: bool = True) -> keras.Model:
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, outputs)
    if compiled:
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    return model


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
