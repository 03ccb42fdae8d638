"""`keras_cxr.training.shift_validation`: the shift-aware validation of a trained model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keras_cxr.data import ImageSet, cohort_matched_subset, shifted_copies
from keras_cxr.metrics import classification_report, select_threshold
from keras_cxr.training import ShiftValidation, format_shift_report
from keras_cxr.training.run_folder import SUMMARY_FILE


def _brightness_score(images: np.ndarray) -> np.ndarray:
    """A toy 'model': brighter images look more like pneumonia."""
    return np.clip(images.reshape(len(images), -1).mean(axis=1) / 255.0, 0, 1)


@pytest.fixture(scope="module")
def val():
    rng = np.random.default_rng(0)
    labels = np.asarray([0] * 12 + [1] * 8)
    levels = np.where(labels == 1, 150, 90) + rng.integers(-40, 40, len(labels))
    images = np.broadcast_to(levels[:, None, None, None], (20, 8, 8, 3)).astype(np.uint8)
    images = np.ascontiguousarray(images)
    names = [f"IM-{i}-1.jpeg" for i in range(4)] + [f"NORMAL2-IM-{i}-1.jpeg" for i in range(8)]
    names += [f"person{i}_bacteria_{i}.jpeg" for i in range(8)]
    paths = [Path("val") / n for n in names]
    return ImageSet(images, labels, paths, [n.rsplit("-", 1)[0] for n in names])


def test_report_rows_match_metrics_computed_directly(val):
    shift = ShiftValidation.measure(_brightness_score, val, seed=2)
    threshold = 0.45
    report = shift.report(threshold)
    direct = classification_report(val.labels, _brightness_score(val.images), threshold)
    assert report["patient"]["specificity"] == direct["specificity"]
    copies = shifted_copies(val.images, seed=2)
    darker = classification_report(val.labels, _brightness_score(copies["darker"]), threshold)
    assert report["shifted"]["darker"]["sensitivity"] == darker["sensitivity"]
    assert report["shifted"]["brighter"]["specificity"] < report["patient"]["specificity"]
    specificities = [row["specificity"] for row in report["shifted"].values()]
    assert report["worst_shifted"]["specificity"] == min(specificities)
    assert report["mean_shifted"]["specificity"] == pytest.approx(np.mean(specificities))
    kept = cohort_matched_subset(val.labels, shift.cohorts, seed=2)
    matched = classification_report(
        val.labels[kept], _brightness_score(val.images)[kept], threshold
    )
    assert report["cohort_matched"]["accuracy"] == matched["accuracy"]
    called = _brightness_score(val.images[:4]) >= threshold
    assert report["cohort_specificity"]["IM"] == {"n": 4, "specificity": 1 - called.mean()}
    json.dumps(report)  # JSON-friendly
    table = format_shift_report(report)
    assert "worst shifted" in table and "specificity of NORMAL2 normals (8)" in table


def test_shifted_threshold_is_chosen_on_the_pooled_copies(val):
    shift = ShiftValidation.measure(_brightness_score, val)
    pooled_scores = np.concatenate(list(shift.probabilities.values()))
    pooled_labels = np.tile(val.labels, len(shift.probabilities))
    assert shift.threshold("youden", "shifted") == select_threshold(pooled_labels, pooled_scores)
    assert shift.threshold("f1") == select_threshold(
        val.labels, _brightness_score(val.images), "f1"
    )
    with pytest.raises(ValueError, match="`data`"):
        shift.threshold("youden", "test")


def test_a_training_run_reports_the_shift_aware_validation(trained):
    summary = json.loads((trained.out / SUMMARY_FILE).read_text())
    report = summary["shift_validation"]
    assert report == json.loads(json.dumps(trained.shift_metrics))
    assert report["threshold"] == trained.threshold
    assert report["patient"]["roc_auc"] == pytest.approx(trained.val_metrics["roc_auc"])
    assert set(report["shifted"]) >= {"darker", "gamma_1.4", "blur", "mixed"}
    assert set(report["cohort_specificity"]) == {"IM", "NORMAL2"}


def test_shift_validation_off_and_shifted_threshold_need_each_other():
    from keras_cxr.training import TrainConfig

    with pytest.raises(ValueError, match="`threshold_data`"):
        TrainConfig(threshold_data="shifted", shift_validation=False).validate()
    assert TrainConfig(threshold_data="shifted").threshold_data == "shifted"
