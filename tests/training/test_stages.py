"""`keras_cxr.training.stages` and `stage_callbacks`, on in-memory phantoms without `train`."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from keras_cxr.callbacks import GradCAMCallback
from keras_cxr.data import ImageSet, ImageSplits, balanced_class_weight
from keras_cxr.data.synthetic import make_phantoms
from keras_cxr.models import predict_probabilities
from keras_cxr.training import BestCheckpoint, TrainConfig, TrainingSnapshot, build_model
from keras_cxr.training.history import StageCSVLogger, read_history
from keras_cxr.training.run_folder import HISTORY_FILE
from keras_cxr.training.stage_callbacks import best_weights_path, stage_callbacks
from keras_cxr.training.stages import (
    FINE_TUNE,
    MAIN,
    Run,
    fine_tune_stage,
    main_stage,
    val_probabilities,
)

SIZE = 32


def _image_set(count: int, seed: int) -> ImageSet:
    phantoms = make_phantoms(count, image_size=SIZE, seed=seed)
    names = [Path(f"p{seed}_{i}.png") for i in range(count)]
    return ImageSet(phantoms.images, phantoms.labels, names, [n.stem for n in names])


@pytest.fixture(scope="module")
def splits() -> ImageSplits:
    train = _image_set(32, seed=1)
    return ImageSplits(
        train=train,
        val=_image_set(12, seed=2),
        test=None,
        class_weight=balanced_class_weight(train.labels.tolist()),
    )


def _config(out: Path, **overrides) -> TrainConfig:
    settings = dict(
        out=out,
        image_size=SIZE,
        backbones=("cnn_3x3",),
        train_backbones=False,
        head_units=(8,),
        epochs=3,
        batch_size=8,
        augmented_views=1,
        gradcam_images=2,
        gradcam_every=1,
        tensorboard=False,
        progress=False,
    )
    settings.update(overrides)
    return TrainConfig.recipe("demo", **settings)


def test_cached_feature_stage_trains_the_ensemble_head_in_place(splits, tmp_path):
    config = _config(tmp_path)
    model = build_model(config)
    backbone_before = [w.copy() for w in model.stacked_backbones.get_weights()]
    run = Run(config, tmp_path, model, splits)
    best = main_stage(run)
    assert best in range(config.epochs)
    # Frozen backbones are untouched; the head is the ensemble's own.
    for before, after in zip(backbone_before, model.stacked_backbones.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert {id(v) for v in model.get_layer("logits").weights} <= {
        id(v) for v in run.head.trainable_variables
    }
    # The validation probabilities from cached features equal the full model's.
    np.testing.assert_allclose(
        val_probabilities(run), predict_probabilities(model, splits.val.images), atol=1e-5
    )
    assert best_weights_path(tmp_path, MAIN).is_file()
    assert set(run.timings) == {"features", "main"}
    # One cache file per split, reused by a second run with the same settings.
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2 and cached[0].startswith("features_train_")


def test_stage_callbacks_run_heatmaps_first_and_the_snapshot_last(splits, tmp_path):
    config = _config(tmp_path)
    model = build_model(config)
    callbacks, best = stage_callbacks(config, tmp_path, MAIN, 3, None, model, splits.val)
    kinds = [type(callback) for callback in callbacks]
    assert kinds[0] is GradCAMCallback and kinds[-1] is TrainingSnapshot
    assert isinstance(best, BestCheckpoint) and best in callbacks
    assert any(isinstance(callback, StageCSVLogger) for callback in callbacks)
    # The heatmaps explain the image model it was given, on a balanced sample.
    gradcam = callbacks[0]
    assert gradcam.explained_model is model
    assert sorted(gradcam.samples.labels.tolist()) == [0, 1]
    without = stage_callbacks(
        _config(tmp_path, gradcam_images=0), tmp_path, MAIN, 3, None, model, splits.val
    )[0]
    assert not any(isinstance(callback, GradCAMCallback) for callback in without)


def _main_then_fine_tune(splits, out, edit_history=None, **overrides):
    config = _config(out, fine_tune_last=2, fine_tune_epochs=2, gradcam_images=0, **overrides)
    model = build_model(config)
    run = Run(config, out, model, splits)
    main_stage(run)
    if edit_history is not None:
        edit_history(out / HISTORY_FILE)
    before = [w.copy() for w in model.get_weights()]
    fine_tune_stage(run)
    history = read_history(out / HISTORY_FILE)
    return run, before, model.get_weights(), history


def _best_loss(history, stage):
    return min(v for s, v in zip(history["stage"], history["val_loss"]) if s == stage)


def test_fine_tuning_worse_than_the_head_is_dropped(splits, tmp_path):
    # A rate of 30 wrecks the unfrozen layers: the head-only weights come back exactly.
    run, before, after, history = _main_then_fine_tune(
        splits, tmp_path, fine_tune_learning_rate=30.0
    )
    assert run.fine_tune == {
        "monitor": "val_loss",
        "main_best": pytest.approx(_best_loss(history, MAIN)),
        "fine_tune_best": pytest.approx(_best_loss(history, FINE_TUNE)),
        "kept": False,
    }
    assert run.fine_tune["fine_tune_best"] > run.fine_tune["main_best"]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    # The validation outputs are the head's again, from the cached features.
    np.testing.assert_allclose(
        val_probabilities(run), predict_probabilities(run.model, splits.val.images), atol=1e-5
    )


def test_fine_tuning_better_than_the_head_is_kept(splits, tmp_path):
    def worse_main(path):  # the main stage's recorded losses made worse than any tuned one
        text = path.read_text().splitlines()
        column = text[0].split(",").index("val_loss")
        rows = [row.split(",") for row in text[1:]]
        for row in rows:
            row[column] = "1e9"
        path.write_text("\n".join([text[0], *(",".join(row) for row in rows)]) + "\n")

    run, before, after, history = _main_then_fine_tune(splits, tmp_path, edit_history=worse_main)
    assert run.fine_tune["kept"] and run.fine_tune["main_best"] == 1e9
    assert run.fine_tune["fine_tune_best"] == pytest.approx(_best_loss(history, FINE_TUNE))
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="with jit_compile=False, JAX and PyTorch call the train step once per batch",
)
def test_the_images_stage_traces_its_train_step_once(splits, tmp_path, monkeypatch):
    # Keras (TensorFlow, no distribution strategy) would create the optimizer's slots in
    # the first trace, and a `tf.function` that creates variables is traced a second time.
    config = _config(tmp_path, train_backbones=True, epochs=2, gradcam_images=0)
    model = build_model(config)
    traces = []
    original = type(model).train_step

    def counting_train_step(self, data):
        traces.append(len(traces))
        return original(self, data)

    monkeypatch.setattr(type(model), "train_step", counting_train_step)
    main_stage(Run(config, tmp_path, model, splits))
    assert read_history(tmp_path / HISTORY_FILE)["epoch"] == [0, 1]  # both epochs ran
    assert len(traces) == 1
