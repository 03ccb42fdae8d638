"""`keras_cxr.training.train`: outputs, feature caching, resume, thresholds, bad settings."""

from __future__ import annotations

import csv
import json
import time

import cv2
import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.data import load_image_splits
from keras_cxr.metrics import classification_report, fit_temperature, select_threshold
from keras_cxr.models import (
    HeadModel,
    apply_temperature,
    predict_logits,
    predict_probabilities,
    read_metadata,
)
from keras_cxr.training import RunExistsError, TrainConfig, extract_features, read_history, train

from .conftest import INTERRUPT_AFTER, tiny_config


# ----------------------------------------------------------------- end to end, resumed
def test_resumed_run_continues_at_the_next_epoch_and_keeps_the_best_score(resumed_run):
    state, history_before, result = resumed_run
    assert state["epoch"] == INTERRUPT_AFTER and state["stage"] == "main"
    assert history_before["epoch"] == [0]
    history = read_history(result.out / "history.csv")
    # Every epoch once, in order: the resumed run started right after the snapshot.
    assert history["epoch"] == [0, 1, 2]
    assert history["val_loss"][0] == pytest.approx(history_before["val_loss"][0])
    final = json.loads((result.out / "checkpoints" / "last" / "state.json").read_text())
    assert final["epoch"] == 2
    best_before = state["best_checkpoint"]["best"]
    best_after = final["best_checkpoint"]["best"]
    assert best_after == pytest.approx(min(history["val_loss"]))
    assert best_after <= best_before
    assert final["best_checkpoint"]["best_epoch"] == int(np.argmin(history["val_loss"]))
    assert result.best_epoch == final["best_checkpoint"]["best_epoch"]
    assert result.resumed == [("main", INTERRUPT_AFTER + 1)]


def test_saved_model_holds_the_best_weights_and_the_validation_threshold(resumed_run):
    _, _, result = resumed_run
    model = keras_cxr.load_model(result.model_path)
    splits = result.splits
    probabilities = predict_probabilities(model, splits.val.images)
    np.testing.assert_allclose(
        probabilities, predict_probabilities(result.model, splits.val.images), atol=1e-6
    )
    metadata = read_metadata(result.model_path)
    # The temperature is fitted on the validation logits, the threshold on the calibrated
    # validation probabilities.
    logits = predict_logits(model, splits.val.images)[:, 0]
    temperature = fit_temperature(splits.val.labels, logits)
    assert metadata["temperature"] == pytest.approx(temperature, rel=1e-4)
    assert result.temperature == metadata["temperature"]
    calibrated = apply_temperature(logits, metadata["temperature"])
    expected = select_threshold(splits.val.labels, calibrated, "youden")
    assert metadata["threshold"] == pytest.approx(expected, abs=1e-6)
    assert metadata["operating_point"] == "youden"
    assert metadata["threshold_split"] == "validation"
    assert metadata["image_size"] == 32 and metadata["recipe"] == "demo"
    calibration = metadata["calibration"]
    assert calibration["nll_after"] <= calibration["nll_before"] + 1e-12
    report = classification_report(splits.val.labels, calibrated, expected)
    assert metadata["val_metrics"]["accuracy"] == pytest.approx(report["accuracy"])
    assert metadata["val_metrics"]["ece"] == pytest.approx(calibration["ece_after"])
    test_logits = predict_logits(model, splits.test.images)[:, 0]
    test_report = classification_report(
        splits.test.labels, apply_temperature(test_logits, temperature), expected
    )
    assert result.test_metrics["roc_auc"] == pytest.approx(test_report["roc_auc"], abs=1e-6)
    assert result.test_metrics["brier"] == pytest.approx(test_report["brier"], abs=1e-5)


def test_run_writes_history_tensorboard_and_gradcam_grids(resumed_run):
    _, _, result = resumed_run
    out = result.out
    with open(out / "history.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {"stage", "loss", "val_loss", "val_auc", "gradcam_drift"} <= set(rows[0])
    grids = sorted((out / "logs" / "gradcam" / "main").glob("epoch_*.png"))
    assert [g.name for g in grids] == ["epoch_001.png", "epoch_002.png", "epoch_003.png"]
    assert cv2.imread(str(grids[-1])) is not None
    assert list((out / "logs" / "tensorboard" / "main").rglob("events.out.tfevents.*"))
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["images"]["test"] == 20
    assert summary["images"]["train"] + summary["images"]["val"] == 64


def test_end_to_end_training_updates_from_scratch_batchnorm(resumed_run):
    _, _, result = resumed_run
    bn = result.model.backbones["cnn_3x3"].get_layer("cnn_3x3_stem_bn")
    mean = keras.ops.convert_to_numpy(bn.moving_mean)
    assert np.abs(mean).max() > 1e-3  # moved away from its initial zeros


def test_reloaded_from_scratch_model_trains_its_batchnorm_again_without_warnings(resumed_run):
    import warnings

    _, _, result = resumed_run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.models.load_model(result.model_path)
    assert not [w for w in caught if "optimizer" in str(w.message).lower()]
    bn = loaded.backbones["cnn_3x3"].get_layer("cnn_3x3_stem_bn")
    assert bn.trainable  # `trainable_batchnorm` travels in the model's config
    assert loaded.get_config()["trainable_batchnorm"] is True
    # And a reloaded model trains as the original did: BatchNorm statistics move.
    before = keras.ops.convert_to_numpy(bn.moving_mean).copy()
    loaded.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    images = result.splits.train.images[:16].astype("float32")
    loaded.fit(images, result.splits.train.labels[:16, None].astype("float32"), verbose=0)
    assert np.abs(keras.ops.convert_to_numpy(bn.moving_mean) - before).max() > 0


def test_patients_never_cross_splits(resumed_run):
    splits = resumed_run[2].splits
    sets = [set(part.patients) for part in (splits.train, splits.val, splits.test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])


# ----------------------------------------------------------------- cached features
def test_full_model_predicts_what_the_head_predicts_on_cached_features(cached_run):
    _, result = cached_run
    loaded = keras_cxr.load_model(result.model_path)
    images = result.splits.val.images
    features = extract_features(loaded, images)[0]
    head = HeadModel(loaded)
    on_features = head.predict(features, verbose=0)[:, 0]
    np.testing.assert_allclose(
        predict_probabilities(loaded, images), on_features, rtol=1e-4, atol=1e-5
    )
    # The temperature was fitted on the head's logits: the full model's give the same.
    logits = predict_logits(loaded, images)[:, 0]
    np.testing.assert_allclose(
        HeadModel(loaded, logits=True).predict(features, verbose=0)[:, 0], logits, atol=1e-4
    )
    temperature = read_metadata(result.model_path)["temperature"]
    assert temperature == pytest.approx(fit_temperature(result.splits.val.labels, logits), 1e-3)
    # and the cache on disk holds exactly the features of these images
    cached = np.load(next((result.out / "cache").glob("features_val_*.npy")))
    np.testing.assert_allclose(cached[0], features, rtol=1e-4, atol=1e-5)


def test_cache_holds_the_original_and_k_augmented_views(cached_run):
    config, result = cached_run
    train_cache = np.load(next((result.out / "cache").glob("features_train_*.npy")))
    assert train_cache.shape[0] == 1 + config.augmented_views
    assert train_cache.shape[1] == len(result.splits.train)
    assert not np.allclose(train_cache[0], train_cache[1])
    assert not np.allclose(train_cache[1], train_cache[2])
    direct = extract_features(result.model, result.splits.train.images[:8])[0]
    np.testing.assert_allclose(train_cache[0, :8], direct, rtol=1e-4, atol=1e-5)


def test_frozen_backbones_do_not_change_during_head_training(cached_run):
    _, result = cached_run
    assert result.model.stacked_backbones.trainable is False
    cached = np.load(next((result.out / "cache").glob("features_val_*.npy")))[0]
    now = extract_features(result.model, result.splits.val.images)[0]
    np.testing.assert_allclose(now, cached, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------- bad settings
def test_existing_run_is_never_overwritten_silently(resumed_run, phantom_data):
    out = resumed_run[2].out
    before = (out / "model.keras").stat().st_mtime_ns
    with pytest.raises(RunExistsError, match="already holds a training run"):
        train(tiny_config(phantom_data, out, backbones=("cnn_3x3",)))
    with pytest.raises(RunExistsError, match="other settings"):
        train(tiny_config(phantom_data, out, resume=True, backbones=("cnn_7x7",)))
    assert (out / "model.keras").stat().st_mtime_ns == before


def test_offline_imagenet_fails_fast_and_writes_nothing(phantom_data, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", offline)
    out = tmp_path / "run"
    config = TrainConfig(data=phantom_data, out=out, image_size=32, progress=False)
    tic = time.perf_counter()
    with pytest.raises(keras_cxr.WeightsUnavailableError, match=r"mobilenet_v2.*offline"):
        train(config)
    assert time.perf_counter() - tic < 60
    assert not out.exists()


def test_the_folder_is_walked_scanned_and_split_once_per_run(
    resumed_run_and_data_passes, cached_run_and_data_passes
):
    # Counted in the session's two runs: a resumed end-to-end run and one on cached features.
    once = {"walk": 1, "scan": 1, "split": 1}
    assert resumed_run_and_data_passes[3] == once
    assert cached_run_and_data_passes[2] == once


def test_missing_data_folder_fails_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train(TrainConfig.recipe("demo", data=tmp_path / "missing", out=out, progress=False))
    assert not out.exists()


def test_output_inside_a_file_is_refused(phantom_data, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        train(tiny_config(phantom_data, blocker / "run"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "`epochs`"),
        ("monitor", "loss", "`monitor`"),
        ("val_fraction", 0.0, "`val_fraction`"),
        ("dropout", 1.0, "`dropout`"),
        ("backbones", ("resnet9000",), "`backbones`"),
    ],
)
def test_invalid_settings_name_the_setting(phantom_data, tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message):
        config = tiny_config(phantom_data, tmp_path, **{field: value})
        keras_cxr.training.build_model(config)


def test_test_fraction_carves_a_patient_level_test_split(tmp_path):
    from keras_cxr.data.synthetic import write_chest_xray

    root = write_chest_xray(tmp_path / "only_train", n_train=80, n_test=0, image_size=32)
    splits = load_image_splits(root, 32, val_fraction=0.2, test_fraction=0.2, progress=False)
    assert splits.test is not None
    assert len(splits.test) == pytest.approx(16, abs=4)
    assert set(splits.test.labels.tolist()) == {0, 1}
    assert not set(splits.test.patients) & set(splits.train.patients)
    assert not set(splits.test.patients) & set(splits.val.patients)
    assert splits.class_weight[0] == pytest.approx(
        len(splits.train) / (2 * (splits.train.labels == 0).sum())
    )


def test_test_fraction_is_refused_when_the_folder_has_a_test_split(phantom_data):
    with pytest.raises(ValueError, match="already has a test/ split"):
        load_image_splits(phantom_data, 32, test_fraction=0.1, progress=False)


@pytest.mark.slow
def test_fine_tuning_stage_trains_the_last_backbone_layers(phantom_data, tmp_path):
    config = tiny_config(
        phantom_data,
        tmp_path,
        backbones=("cnn_3x3",),
        train_backbones=False,
        epochs=2,
        fine_tune_last=3,
        fine_tune_epochs=2,
        gradcam_images=0,
        tensorboard=False,
    )
    result = train(config)
    history = read_history(result.out / "history.csv")
    assert history["stage"] == ["main", "main", "fine_tune", "fine_tune"]
    last_conv = result.model.backbones["cnn_3x3"].get_layer("cnn_3x3_stage3_2_conv")
    first_conv = result.model.backbones["cnn_3x3"].get_layer("cnn_3x3_stem_conv")
    assert last_conv.trainable and not first_conv.trainable
    assert (result.out / "checkpoints" / "best_fine_tune.weights.h5").is_file()
