"""`keras-cxr evaluate`: metrics at the stored threshold, and bad input."""

from __future__ import annotations

import json

import pytest

from keras_cxr.cli import main
from keras_cxr.models import read_metadata

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
    assert metrics["threshold_source"].startswith("validation")
    assert metrics["n"] == 20 and {"roc_auc", "ece", "ppv", "npv"} <= set(metrics)
    assert all((out / f).is_file() for f in ("roc.png", "reliability.png", "confusion_matrix.png"))
    assert "ROC AUC" in capsys.readouterr().out
    # --threshold overrides the stored one
    flags = ("--threshold", "0.9", "--quiet")
    assert evaluate(demo / "model.keras", demo / "data", out, *flags) == 0
    assert json.loads((out / "metrics.json").read_text())["threshold"] == 0.9


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
