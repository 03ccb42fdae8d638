"""`keras-cxr explain`: one figure per image, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

import keras_cxr
from keras_cxr.cli import build_parser, main

from ._helpers import error_line


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


def test_explain_with_a_pixel_attribution_method(demo, tmp_path):
    image = sorted((demo / "data" / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
    out = tmp_path / "explained"
    model = str(demo / "model.keras")
    arguments = ["explain", "--model", model, str(image), "--out", str(out), "--quiet"]
    assert main([*arguments, "--method", "integrated-gradients"]) == 0
    (listed,) = json.loads((out / "predictions.json").read_text())
    assert listed["method"] == "integrated-gradients"
    assert "_integratedgradients_" in listed["figure"] and (out / listed["figure"]).is_file()


def test_method_choices_are_the_explainers():
    explain = build_parser()._subparsers._group_actions[0].choices["explain"]
    method = next(a for a in explain._actions if a.dest == "method")
    assert sorted(method.choices) == sorted(keras_cxr.explain.METHODS)


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
