"""`keras-cxr evaluate`: metrics at the stored threshold, and bad input."""

from __future__ import annotations

import json
import re

import pytest

import keras_cxr
from keras_cxr.cli import main
from keras_cxr.cli.evaluate import EVALUATED_ELSEWHERE
from keras_cxr.data import load_image_folder
from keras_cxr.metrics.report import INTERVAL_METRICS
from keras_cxr.models import read_metadata
from keras_cxr.training import evaluate_model

from ._helpers import error_line

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def evaluate(model, data, out, *flags: str) -> int:
    """The exit status of `keras-cxr evaluate` on these paths."""
    return main(["evaluate", "--model", str(model), "--data", str(data), "--out", str(out), *flags])


def test_evaluate_uses_the_stored_threshold(demo, tmp_path, capsys):
    out = tmp_path / "eval"
    assert evaluate(demo / "model.keras", demo / "data" / "test", out, "--quiet") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    stored = read_metadata(demo / "model.keras")["threshold"]
    assert metrics["threshold"] == pytest.approx(stored)
    assert metrics["temperature"] == pytest.approx(
        read_metadata(demo / "model.keras")["temperature"]
    )
    assert metrics["threshold_source"].startswith("validation")
    assert metrics["n"] == 20 and {"roc_auc", "ece", "ppv", "npv"} <= set(metrics)
    assert all((out / f).is_file() for f in ("roc.png", "reliability.png", "confusion_matrix.png"))
    printed = capsys.readouterr().out
    assert "ROC AUC" in printed
    folder = demo / "data" / "test"
    assert f"These figures hold for the images of {folder}. {EVALUATED_ELSEWHERE}" in printed
    # --threshold overrides the stored one
    flags = ("--threshold", "0.9", "--quiet")
    assert evaluate(demo / "model.keras", demo / "data", out, *flags) == 0
    assert json.loads((out / "metrics.json").read_text())["threshold"] == 0.9


def test_evaluate_prints_every_metric_with_its_patient_bootstrap_interval(demo, tmp_path, capsys):
    model, data, out = demo / "model.keras", demo / "data" / "test", tmp_path / "eval"
    assert evaluate(model, data, out, "--bootstrap", "200", "--seed", "3", "--quiet") == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    intervals = metrics["intervals"]
    assert set(intervals) == set(INTERVAL_METRICS)
    for key, label in (("sensitivity", "sensitivity"), ("roc_auc", "ROC AUC"), ("brier", "Brier")):
        low, high = intervals[key]["low"], intervals[key]["high"]
        assert re.search(rf"{label}.*{metrics[key]:.4f}  \[{low:.4f}, {high:.4f}\]", printed)
    assert intervals["roc_auc"]["resamples"] == 200
    # The phantoms are named like Kermany files: one patient per image file here.
    data_set = load_image_folder(data, 32, progress=False)
    assert metrics["bootstrap"] == {
        "resamples": 200,
        "confidence": 0.95,
        "unit": "patient",
        "groups": len(set(data_set.patients)),
    }
    assert f"200 resamples of {len(set(data_set.patients))} patients" in printed
    assert f"(before calibration {metrics['ece_uncalibrated']:.4f})" in printed
    assert f"temperature {metrics['temperature']:.3f}" in printed
    assert f"operating point {read_metadata(model)['operating_point']}" in printed
    # The interval is the one of keras_cxr.metrics.classification_intervals.
    loaded = keras_cxr.load_model(model)
    arguments = (loaded, data_set.images, data_set.labels, metrics["threshold"])
    options = {"temperature": metrics["temperature"], "groups": data_set.patients, "seed": 3}
    evaluation = evaluate_model(*arguments, n_resamples=200, **options)
    assert evaluation.intervals["accuracy"].to_dict() == pytest.approx(intervals["accuracy"])
    # no resamples, no intervals
    assert "intervals" not in evaluate_model(*arguments, n_resamples=0, **options).metrics


# ----------------------------------------------------------------- bad input
def test_folder_without_class_subfolders(demo, tmp_path, capsys):
    (tmp_path / "flat").mkdir()
    assert evaluate(demo / "model.keras", tmp_path / "flat", tmp_path / "e") == 1
    assert "has no NORMAL and PNEUMONIA sub-folders" in error_line(capsys)
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"PK\x03\x04truncated"])
def test_model_file_that_is_not_a_keras_model(demo, tmp_path, capsys, content):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(content)
    assert evaluate(bad, demo / "data" / "test", tmp_path / "e") == 1
    line = error_line(capsys)
    assert line.startswith(f"error: The model file '{bad}'")
    assert not (tmp_path / "e").exists()


def test_unwritable_output_folder(demo, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert evaluate(demo / "model.keras", demo / "data" / "test", blocker / "e", "--quiet") == 1
    assert error_line(capsys).startswith("error: ")
    assert blocker.read_text() == "x"
