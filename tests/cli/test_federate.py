"""`keras-cxr federate`: a run on phantom sites, its printout, and bad arguments."""

from __future__ import annotations

import functools
import re

import keras
import pytest

import keras_cxr.federated
from keras_cxr.cli import main
from keras_cxr.data.synthetic import write_chest_xray

from ._helpers import error_line


def _tiny_model(config):
    inputs = keras.Input((config.image_size, config.image_size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(1, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(x))


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    return write_chest_xray(
        tmp_path_factory.mktemp("data") / "cxr", n_train=72, n_test=16, image_size=32
    )


def test_federate_prints_the_metrics_and_the_model_explains(
    phantoms, tmp_path, monkeypatch, capsys
):
    # The recipe's StackedEnsemble takes ~20 s a site to trace; a one-conv net, 2 s.
    federate = functools.partial(keras_cxr.federated.federate, model_builder=_tiny_model)
    monkeypatch.setattr(keras_cxr.federated, "federate", federate)
    out = tmp_path / "run"
    argv = ["federate", "--data", str(phantoms), "--sites", "iid:2", "--rounds", "1"]
    argv += ["--recipe", "demo", "--image-size", "32", "--batch-size", "16", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "round 1/1: site1 val AUC" in printed and "held-out test AUC" in printed
    assert "1 rounds over 2 sites" in printed and "Held-out test (16 images)" in printed
    assert (out / "model.keras").is_file() and (out / "rounds.csv").is_file()
    assert main([*argv, "--rounds", "1"]) == 1  # the folder holds a run now
    assert "already holds a training run" in error_line(capsys)
    image = next((phantoms / "test" / "PNEUMONIA").iterdir())
    explained = tmp_path / "explained"
    assert (
        main(["explain", "--model", str(out / "model.keras"), str(image), "--out", str(explained)])
        == 0
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--sites", "iid:1"], "argument `sites`.*K >= 2"),
        (["--sites", "label:3", "--alpha", "0"], "argument `alpha`"),
        (["--sites", "iid:2", "--recipe", "nope"], "argument `recipe`"),
    ],
)
def test_bad_settings_print_one_error_line(phantoms, tmp_path, capsys, flags, message):
    argv = ["federate", "--data", str(phantoms), "--out", str(tmp_path / "o"), *flags]
    assert main(argv) == 1
    assert re.search(message, error_line(capsys))


def test_a_partition_without_data_is_refused(tmp_path, capsys):
    assert main(["federate", "--sites", "iid:2", "--out", str(tmp_path / "o")]) == 1
    assert "partitions one folder: pass it as `data` (--data)" in error_line(capsys)
    assert not (tmp_path / "o").exists()  # refused before anything is written
