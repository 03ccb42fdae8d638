"""`keras-cxr demo`: the whole pipeline on phantoms, and what it prints."""

from __future__ import annotations

import inspect
import json
import zipfile

import cv2
import keras
import pytest

import keras_cxr
from keras_cxr.cli import build_parser
from keras_cxr.models import read_metadata
from keras_cxr.training import run_demo

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_demo_writes_model_metrics_report_and_gradcam(demo):
    for name in (
        "model.keras",
        "metrics.json",
        "report.html",
        "roc.png",
        "reliability.png",
        "confusion_matrix.png",
        "history.csv",
        "demo_summary.json",
    ):
        assert (demo / name).is_file(), name
    figures = sorted((demo / "gradcam").glob("*.png"))
    assert len(figures) == 6 and all(cv2.imread(str(f)) is not None for f in figures)
    assert list((demo / "logs" / "gradcam" / "main").glob("epoch_001.png"))
    metrics = json.loads((demo / "metrics.json").read_text())
    summary = json.loads((demo / "demo_summary.json").read_text())
    assert metrics["n"] == 20
    assert metrics["threshold"] == pytest.approx(read_metadata(demo / "model.keras")["threshold"])
    assert summary["test_metrics"]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert summary["wall_time_s"] > 0


def test_training_compiled_with_jax_jit_only_under_jax(demo):
    # JAX has no graph mode: without jax.jit every training step ran op by op (the demo
    # took 108 s instead of 64). TensorFlow trains in graph mode without XLA.
    with zipfile.ZipFile(demo / "model.keras") as archive:
        compiled = json.loads(archive.read("config.json"))["compile_config"]
    assert compiled["jit_compile"] is (keras.backend.backend() == "jax")


def test_demo_prints_where_to_look(demo):
    printed = (demo / "stdout.txt").read_text()
    assert f"report     {demo / 'report.html'}" in printed
    assert f"model      {demo / 'model.keras'}" in printed
    assert "Look at:" in printed and "accuracy" in printed and "Demo finished in" in printed


def test_demo_replaces_only_a_previous_demo_folder(tmp_path):
    from keras_cxr.training.demo import prepare_demo_folder

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(keras_cxr.training.RunExistsError, match="holds no previous demo"):
        prepare_demo_folder(other)
    assert (other / "notes.txt").read_text() == "mine"
    previous = tmp_path / "previous"
    prepare_demo_folder(previous)
    (previous / "stale.txt").write_text("x")
    prepare_demo_folder(previous)
    assert sorted(p.name for p in previous.iterdir()) == [".keras_cxr_demo"]


def test_demo_flags_default_to_the_defaults_of_run_demo():
    args = build_parser().parse_args(["demo"])
    parameters = inspect.signature(run_demo).parameters
    for name in ("out", "n_train", "n_test", "image_size", "epochs", "seed"):
        assert getattr(args, name) == parameters[name].default, name
    assert args.quiet is False


def test_demo_refuses_a_count_below_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["demo", "--n-train", "0"])
    assert exit_info.value.code == 2
    assert "argument --n-train: expected an integer >= 1, got 0" in capsys.readouterr().err
