"""`keras-cxr export`: the demo model exported and checked, and the errors a user can make."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from keras_cxr.cli import build_parser, main
from keras_cxr.cli.export import CAM_NAMES, FORMAT_NAMES

from ._helpers import error_line, subparser

pytestmark = pytest.mark.backends  # under JAX and PyTorch: the backend error


def _export(demo, *arguments: str) -> int:
    return main(["export", "--model", str(demo / "model.keras"), *arguments])


def test_the_parser_names_what_the_library_accepts():
    from keras_cxr.explain import METHODS, get_method, is_cam
    from keras_cxr.export import FORMATS

    assert tuple(FORMATS) == FORMAT_NAMES
    assert set(CAM_NAMES) <= set(METHODS) and all(is_cam(get_method(n)) for n in CAM_NAMES)
    assert subparser(build_parser(), "export").get_default("check_images") == 16


def test_export_checks_the_file_and_never_overwrites_it(demo, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    if keras.backend.backend() != "tensorflow":
        assert _export(demo, "--format", "onnx", "--out", str(out)) == 1
        assert "needs the TensorFlow backend" in error_line(capsys)
        assert not out.exists()
        return
    pytest.importorskip("onnxruntime")  # the export extra
    assert _export(demo, "--format", "onnx", "--out", str(out), "--check-images", "4") == 0
    printed = capsys.readouterr().out
    metadata = json.loads((tmp_path / "model.onnx.json").read_text())
    assert metadata["check"]["images"] == 4 and metadata["format"] == "onnx"
    assert f"max abs difference from Keras {metadata['check']['max_abs_diff']:.3g}" in printed
    assert metadata["check"]["max_abs_diff"] <= 1e-4
    assert metadata["threshold_source"] == "model file"

    import onnxruntime

    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype("float32")
    model = keras.models.load_model(demo / "model.keras", compile=False)
    expected = model.predict(images, verbose=0)
    assert np.abs(session.run(None, {"image": images})[0] - expected).max() <= 1e-4

    before = out.read_bytes()
    assert _export(demo, "--format", "onnx", "--out", str(out)) == 1
    assert "already exists; choose another --out, or pass --overwrite" in error_line(capsys)
    assert out.read_bytes() == before


def test_bad_export_arguments(demo, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        _export(demo, "--format", "torchscript", "--out", str(tmp_path / "x"))
    assert raised.value.code == 2
    assert "invalid choice: 'torchscript'" in capsys.readouterr().err
    if keras.backend.backend() == "tensorflow":
        assert _export(demo, "--format", "tflite", "--out", str(tmp_path / "model.onnx")) == 1
        assert "Expected a path ending in '.tflite' for tflite" in error_line(capsys)
    assert list(tmp_path.iterdir()) == []
