"""`keras-cxr explain`: a folder explained into a table and overlays, resumed, and bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import keras_cxr
from keras_cxr.cli import build_parser, main
from keras_cxr.cli.explain import SAVE_CHOICES
from keras_cxr.scale import read_results

from ._helpers import error_line, subparser

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def _explain(demo, *arguments: str) -> int:
    return main(["explain", "--model", str(demo / "model.keras"), *arguments, "--quiet"])


def test_explain_writes_the_table_and_overlays_and_resumes(demo, tmp_path, capsys):
    test = demo / "data" / "test"
    out = tmp_path / "explained"
    pattern = str(test / "NORMAL" / "*.jpeg")
    assert _explain(demo, str(test / "PNEUMONIA"), pattern, "--out", str(out), "--method",
                    "hirescam", "--batch-size", "3", "--shard-size", "6",
                    "--save", "overlays") == 0  # fmt: skip
    printed = capsys.readouterr().out
    files = sorted(test.rglob("*.jpeg"))
    table = read_results(out)
    assert list(table["path"]) == [str(path) for path in files]
    assert list(table["label"]) == [path.parent.name for path in files]
    assert all((out / name).is_file() for name in table["overlay"])
    assert cv2.imread(str(out / table["overlay"][0])).shape == (32, 32, 3)
    assert printed.startswith("hirescam on cnn_3x3, cnn_7x7; threshold ")
    assert "(validation split" not in printed and "(model file)" in printed
    assert f"Explained {len(files)} images in " in printed and f"  overlays  {out}" in printed

    # --save not given: the run keeps the overlays it started with, from the CLI or Python.
    assert _explain(demo, str(test), "--out", str(out), "--method", "hirescam", "--resume") == 0
    assert "Explained 0 images in" in capsys.readouterr().out
    again = keras_cxr.explain_folder(
        demo / "model.keras", test, out, method="hirescam", resume=True, progress=False
    )
    assert again.resumed == len(files) and again.overlays == out / "overlays"


@pytest.mark.parametrize("method", ["integrated-gradients", "lime"])
def test_explain_with_a_pixel_attribution_method(demo, tmp_path, capsys, method):
    image = sorted((demo / "data" / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
    out = tmp_path / "explained"
    flags = ("--out", str(out), "--method", method, "--save", "both")
    assert _explain(demo, str(image), *flags) == 0
    assert capsys.readouterr().out.startswith(method)
    assert keras_cxr.scale.read_manifest(out)["method"] == method
    table = read_results(out)
    assert list(table["path"]) == [str(image)] and (out / table["overlay"][0]).is_file()
    assert 0.0 <= table["fused/central_share"][0] <= 1.0


def test_resume_options_parse_and_save_defaults_to_the_runs_own():
    args = build_parser().parse_args(
        ["explain", "--model", "m.keras", "scans", "--out", "o", "--resume", "--retry-skipped"]
    )
    assert (args.resume, args.retry_skipped, args.save) == (True, True, None)


def test_choices_are_the_libraries():
    explain = subparser(build_parser(), "explain")
    method = next(a for a in explain._actions if a.dest == "method")
    assert sorted(method.choices) == sorted(keras_cxr.explain.METHODS)
    assert SAVE_CHOICES == keras_cxr.scale.SAVE_OPTIONS


def test_a_run_of_only_unusable_images_is_an_error(demo, tmp_path, capsys):
    icon = tmp_path / "icon.png"
    cv2.imwrite(str(icon), np.full((8, 8), 128, np.uint8))
    out = tmp_path / "out"
    assert _explain(demo, str(icon), "--out", str(out)) == 1
    assert error_line(capsys) == (
        "error: No image could be explained: all 1 were skipped, the first because: The "
        f"image '{icon}' is 8×8 pixels; at least 32×32 is needed (it is resized to the "
        f"model's 32×32 input). The reasons are listed in {out / 'skipped'}."
    )


def test_bad_output_folders_are_one_line_errors(demo, tmp_path, capsys):
    image = str(next((demo / "data" / "test" / "NORMAL").glob("*.jpeg")))
    (tmp_path / "file").write_text("mine")
    assert _explain(demo, image, "--out", str(tmp_path / "file")) == 1
    assert error_line(capsys) == (
        f"error: Cannot write to the output folder '{tmp_path / 'file'}': "
        f"'{tmp_path / 'file'}' is a file."
    )
    assert _explain(demo, image, "--out", str(demo)) == 1
    assert "holds files but no explained archive" in error_line(capsys)
    assert _explain(demo, str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")) == 1
    assert error_line(capsys).startswith("error: No image file or folder at ")
