"""`keras_cxr.training.multiclass_shift`: the shift-aware validation of a three-class model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keras_cxr.data import ImageSet, cohort_matched_subset, shifted_copies
from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.metrics import multiclass_report, top_label_calibration_error
from keras_cxr.training import format_shift_report, train
from keras_cxr.training.multiclass_shift import MulticlassShiftValidation
from keras_cxr.training.run_folder import SUMMARY_FILE

from .conftest import tiny_config

NAMES = ("NORMAL", "BACTERIAL", "VIRAL")


def _brightness_softmax(images: np.ndarray) -> np.ndarray:
    """A toy 'model': darker images lean NORMAL, brighter ones BACTERIAL, then VIRAL."""
    level = images.reshape(len(images), -1).mean(axis=1) / 255.0
    logits = np.stack([4 * (0.4 - level), np.zeros_like(level), 6 * (level - 0.65)], axis=1)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def val():
    rng = np.random.default_rng(1)
    labels = np.asarray([0] * 12 + [1] * 6 + [2] * 4)
    levels = np.asarray([80, 150, 200])[labels] + rng.integers(-35, 35, len(labels))
    images = np.broadcast_to(levels[:, None, None, None], (len(labels), 8, 8, 3))
    images = np.ascontiguousarray(images.astype(np.uint8))
    names = [f"IM-{i}-1.jpeg" for i in range(4)] + [f"NORMAL2-IM-{i}-1.jpeg" for i in range(8)]
    names += [f"person{i}_bacteria_{i}.jpeg" for i in range(6)]
    names += [f"person{i + 6}_virus_{i}.jpeg" for i in range(4)]
    paths = [Path("val") / name for name in names]
    return ImageSet(images, labels, paths, [name.rsplit("-", 1)[0] for name in names])


def test_rows_match_multiclass_metrics_computed_directly(val):
    shift = MulticlassShiftValidation.measure(_brightness_softmax, val, seed=4)
    report = shift.report()
    assert (report["threshold"], report["decision"]) == (None, "argmax")
    patient = multiclass_report(val.labels, _brightness_softmax(val.images), NAMES)
    assert report["patient"]["accuracy"] == patient["accuracy"]
    assert report["patient"]["macro_f1"] == patient["macro_f1"]
    assert report["patient"]["sensitivity_VIRAL"] == patient["per_class"]["VIRAL"]["sensitivity"]
    copies = shifted_copies(val.images, seed=4)
    darker = _brightness_softmax(copies["darker"])
    assert report["shifted"]["darker"]["accuracy"] == np.mean(darker.argmax(1) == val.labels)
    assert report["shifted"]["darker"]["ece"] == top_label_calibration_error(val.labels, darker)
    accuracies = [row["accuracy"] for row in report["shifted"].values()]
    assert report["worst_shifted"]["accuracy"] == min(accuracies)
    assert report["mean_shifted"]["accuracy"] == pytest.approx(np.mean(accuracies))
    eces = [row["ece"] for row in report["shifted"].values()]
    assert report["worst_shifted"]["ece"] == max(eces)
    kept = cohort_matched_subset(val.labels, shift.cohorts, seed=4)
    matched = multiclass_report(val.labels[kept], _brightness_softmax(val.images)[kept], NAMES)
    assert report["cohort_matched"]["macro_roc_auc"] == matched["macro_roc_auc"]
    normal_im = _brightness_softmax(val.images[:4]).argmax(axis=1) == 0
    assert report["cohort_specificity"]["IM"] == {"n": 4, "specificity": normal_im.mean()}
    json.dumps(report)  # JSON-friendly
    table = format_shift_report(report)
    assert "sens. BACTERIAL" in table and "macro_f1" in table and "worst shifted" in table
    assert "specificity of NORMAL2 normals (8)" in table


def test_no_threshold_for_a_three_class_model(val):
    shift = MulticlassShiftValidation.measure(_brightness_softmax, val)
    with pytest.raises(ValueError, match="arg-max"):
        shift.threshold("youden", "shifted")
    with pytest.raises(ValueError, match="argument `threshold`"):
        shift.report(0.5)


@pytest.fixture(scope="module")
def uncalibrated_run(tmp_path_factory):
    """A three-class head on frozen features, 2 epochs, `calibrate=False`."""
    root = tmp_path_factory.mktemp("three_class") / "chest_xray"
    write_chest_xray(root, n_train=48, n_test=0, image_size=32, seed=5, three_class=True)
    config = tiny_config(
        root,
        root.parent / "run",
        labels="three_class",
        backbones=("cnn_3x3",),
        train_backbones=False,
        epochs=2,
        calibrate=False,
        gradcam_images=0,
        tensorboard=False,
    )
    return train(config)


def test_without_calibration_the_three_class_temperature_stays_one(uncalibrated_run):
    from keras_cxr.models import read_metadata

    result = uncalibrated_run
    metadata = read_metadata(result.model_path)
    assert result.temperature == metadata["temperature"] == 1.0
    assert metadata["calibration"]["ece_before"] == metadata["calibration"]["ece_after"]
    assert metadata["threshold"] is None and metadata["operating_point"] == "argmax"


def test_a_three_class_run_reports_its_shift_aware_validation(uncalibrated_run):
    result = uncalibrated_run
    summary = json.loads((result.out / SUMMARY_FILE).read_text())
    report = summary["shift_validation"]
    assert report == json.loads(json.dumps(result.shift_metrics))
    assert report["decision"] == "argmax" and report["class_names"] == list(NAMES)
    assert set(report["shifted"]) >= {"darker", "gamma_1.4", "blur", "mixed"}
    assert set(report["cohort_specificity"]) <= {"IM", "NORMAL2"}
    assert report["patient"]["accuracy"] == pytest.approx(result.val_metrics["accuracy"])
    # At T = 1 the copies' probabilities are the model's outputs: recomputed here.
    val = result.splits.val
    copies = shifted_copies(val.images, seed=0)  # the run's seed
    for name in ("darker", "low_contrast"):
        outputs = result.model.predict(copies[name], verbose=0)
        expected = np.mean(outputs.argmax(axis=1) == val.labels)
        assert report["shifted"][name]["accuracy"] == pytest.approx(expected)
