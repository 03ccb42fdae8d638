"""The `keras-cxr` command line: every command on tiny synthetic data, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.cli import build_parser, main
from keras_cxr.training import read_metadata


def error_line(capsys) -> str:
    """The one `error:` line on stderr; fails on a traceback or on several error lines."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`keras-cxr demo` shrunk to 32-pixel phantoms and one epoch; its folder is read only.

    Its standard output is saved as `stdout.txt` in the folder.
    """
    import contextlib
    import io

    out = tmp_path_factory.mktemp("cli") / "demo"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "demo",
                "--out",
                str(out),
                "--n-train",
                "60",
                "--n-test",
                "20",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--quiet",
            ]
        )
    assert code == 0
    (out / "stdout.txt").write_text(printed.getvalue())
    return out


# ----------------------------------------------------------------- the commands
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


def test_demo_prints_where_to_look(demo):
    printed = (demo / "stdout.txt").read_text()
    assert f"report     {demo / 'report.html'}" in printed
    assert f"model      {demo / 'model.keras'}" in printed
    assert "Look at:" in printed and "accuracy" in printed and "Demo finished in" in printed


def test_demo_replaces_only_a_previous_demo_folder(tmp_path):
    from keras_cxr.training.demo import _prepare_demo_folder

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(keras_cxr.training.RunExistsError, match="holds no previous demo"):
        _prepare_demo_folder(other)
    assert (other / "notes.txt").read_text() == "mine"
    previous = tmp_path / "previous"
    _prepare_demo_folder(previous)
    (previous / "stale.txt").write_text("x")
    _prepare_demo_folder(previous)
    assert sorted(p.name for p in previous.iterdir()) == [".keras_cxr_demo"]


def test_evaluate_uses_the_stored_threshold(demo, tmp_path, capsys):
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(demo / "model.keras"),
                "--data",
                str(demo / "data" / "test"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    stored = read_metadata(demo / "model.keras")["threshold"]
    assert metrics["threshold"] == pytest.approx(stored)
    assert metrics["threshold_source"].startswith("validation")
    assert metrics["n"] == 20 and {"roc_auc", "ece", "ppv", "npv"} <= set(metrics)
    assert all((out / f).is_file() for f in ("roc.png", "reliability.png", "confusion_matrix.png"))
    assert "ROC AUC" in capsys.readouterr().out
    # --threshold overrides the stored one
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(demo / "model.keras"),
                "--data",
                str(demo / "data"),
                "--out",
                str(out),
                "--threshold",
                "0.9",
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((out / "metrics.json").read_text())["threshold"] == 0.9


def test_explain_writes_figures_with_the_prediction(demo, tmp_path, capsys):
    images = sorted((demo / "data" / "test" / "PNEUMONIA").glob("*.jpeg"))[:2]
    out = tmp_path / "explained"
    assert (
        main(
            [
                "explain",
                "--model",
                str(demo / "model.keras"),
                *map(str, images),
                "--out",
                str(out),
                "--method",
                "hirescam",
                "--quiet",
            ]
        )
        == 0
    )
    listed = json.loads((out / "predictions.json").read_text())
    assert [Path(item["image"]) for item in listed] == images
    for item in listed:
        assert item["predicted"] in item["figure"] and "hirescam" in item["figure"]
        assert (out / item["figure"]).is_file()
    assert capsys.readouterr().out.count("->") == 2


def test_report_writes_one_html_file(demo, tmp_path):
    out = tmp_path / "report.html"
    assert (
        main(
            [
                "report",
                "--model",
                str(demo / "model.keras"),
                "--data",
                str(demo / "data" / "test"),
                "--out",
                str(out),
                "--gallery",
                "2",
                "--mc-samples",
                "3",
                "--quiet",
            ]
        )
        == 0
    )
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Most confidently wrong cases" in page
    assert "data:image/png;base64," in page and "Training history" in page
    # an overlay per branch of the two-branch demo model, then the fused one
    for label in ("cnn_3x3", "cnn_7x7", "fused"):
        assert f'alt="{label}"' in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_train_with_cached_features(demo, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--data",
            str(demo / "data"),
            "--out",
            str(out),
            "--recipe",
            "seed",
            "--weights",
            "none",
            "--backbones",
            "cnn_3x3",
            "--image-size",
            "32",
            "--epochs",
            "2",
            "--head-units",
            "8",
            "--augmented-views",
            "1",
            "--gradcam-images",
            "0",
            "--no-tensorboard",
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Validation" in printed and str(out / "model.keras") in printed
    model = keras_cxr.load_model(out / "model.keras")
    assert model.stacked_backbones.trainable is False
    assert read_metadata(out / "model.keras")["config"]["augmented_views"] == 1


def test_weights_none_selects_the_offline_recipe(monkeypatch, tmp_path, capsys):
    import keras_cxr.training as training

    seen = {}

    def fake_train(config):
        seen["config"] = config
        raise RuntimeError("stop here")

    monkeypatch.setattr(training, "train", fake_train)
    assert main(["train", "--data", str(tmp_path), "--weights", "none"]) == 1
    assert error_line(capsys) == "error: stop here"
    config = seen["config"]
    assert (config.recipe_name, config.weights, config.train_backbones) == ("offline", None, True)
    assert config.image_size == 128 and config.out == "runs/offline"
    assert main(["train", "--data", str(tmp_path), "--epochs", "3"]) == 1
    assert (seen["config"].recipe_name, seen["config"].weights) == ("seed", "imagenet")
    assert seen["config"].epochs == 3 and seen["config"].image_size == 224


@pytest.mark.parametrize("command", ["demo", "train", "evaluate", "explain", "report"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: keras-cxr {command}" in capsys.readouterr().out


def test_method_choices_are_the_explainers():
    explain = build_parser()._subparsers._group_actions[0].choices["explain"]
    method = next(a for a in explain._actions if a.dest == "method")
    assert sorted(method.choices) == sorted(keras_cxr.explain.METHODS)


# ----------------------------------------------------------------- bad input
def test_missing_data_folder(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["train", "--data", str(missing), "--out", str(tmp_path / "o")]) == 1
    assert error_line(capsys) == (
        f"error: The chest X-ray folder '{missing}' does not exist. Pass the folder that "
        "contains train/ and test/, laid out as root/{train,test,val}/{NORMAL,PNEUMONIA}/."
    )
    assert not (tmp_path / "o").exists()


def test_folder_without_class_subfolders(demo, tmp_path, capsys):
    (tmp_path / "train" / "cats").mkdir(parents=True)
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "Class folder" in error_line(capsys)
    (tmp_path / "flat").mkdir()
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(demo / "model.keras"),
                "--data",
                str(tmp_path / "flat"),
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 1
    )
    assert "has no NORMAL and PNEUMONIA sub-folders" in error_line(capsys)
    assert not (tmp_path / "o").exists() and not (tmp_path / "e").exists()


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"PK\x03\x04truncated"])
def test_model_file_that_is_not_a_keras_model(demo, tmp_path, capsys, content):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(content)
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(bad),
                "--data",
                str(demo / "data" / "test"),
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 1
    )
    line = error_line(capsys)
    assert line.startswith(f"error: The model file '{bad}'")
    assert not (tmp_path / "e").exists()


def test_image_of_the_wrong_size(demo, tmp_path, capsys):
    icon = tmp_path / "icon.png"
    cv2.imwrite(str(icon), np.full((8, 8), 128, np.uint8))
    out = tmp_path / "out"
    assert (
        main(["explain", "--model", str(demo / "model.keras"), str(icon), "--out", str(out)]) == 1
    )
    assert error_line(capsys) == (
        f"error: The image '{icon}' is 8×8 pixels; at least 32×32 is needed (it is resized "
        "to the model's 32×32 input)."
    )
    assert not out.exists()


def test_unwritable_output_folder(demo, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert (
        main(
            [
                "train",
                "--data",
                str(demo / "data"),
                "--out",
                str(blocker / "run"),
                "--weights",
                "none",
                "--image-size",
                "32",
            ]
        )
        == 1
    )
    assert error_line(capsys) == (
        f"error: Cannot write to the output folder '{blocker / 'run'}': '{blocker}' is a file."
    )
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(demo / "model.keras"),
                "--data",
                str(demo / "data" / "test"),
                "--out",
                str(blocker / "e"),
                "--quiet",
            ]
        )
        == 1
    )
    assert error_line(capsys).startswith("error: ")
    assert (
        main(
            [
                "report",
                "--model",
                str(demo / "model.keras"),
                "--data",
                str(demo / "data" / "test"),
                "--out",
                str(blocker / "r.html"),
                "--mc-samples",
                "0",
                "--quiet",
            ]
        )
        == 1
    )
    assert error_line(capsys).startswith("error: ")
    assert blocker.read_text() == "x"


def test_offline_imagenet_fails_fast_with_one_line(demo, tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", offline)
    out = tmp_path / "run"
    assert (
        main(["train", "--data", str(demo / "data"), "--out", str(out), "--image-size", "32"]) == 1
    )
    line = error_line(capsys)
    assert line.startswith("error: Could not obtain ImageNet weights for backbone `mobilenet_v2`")
    assert "weights=None" in line
    assert not out.exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file"):
        main(["--debug", "evaluate", "--model", str(tmp_path / "m.keras"), "--data", str(tmp_path)])


def test_exit_code_of_the_console_script(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_cxr.cli",
            "evaluate",
            "--model",
            str(tmp_path / "m.keras"),
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1] == (
        f"error: No model file at '{tmp_path / 'm.keras'}'."
    )
    assert completed.stdout == ""


def test_missing_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: --data" in capsys.readouterr().err
