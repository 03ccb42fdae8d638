"""`export_model`: each format reloaded by its own runtime matches Keras; nothing is clobbered."""

from __future__ import annotations

import importlib
import json
import os
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf

import keras_cxr
from keras_cxr.export import export_model
from keras_cxr.models import model_fingerprint

from .conftest import SIZE, THRESHOLD


def _needs_onnx():
    return pytest.importorskip("onnxruntime")  # and tf2onnx: the export extra


def _saved_model_outputs(path, images):
    serving = tf.saved_model.load(str(path)).signatures["serving_default"]
    (output,) = serving(tf.constant(images)).values()
    return output.numpy()


def _onnx_outputs(path, images):
    session = _needs_onnx().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": images})[0]


def _tflite_outputs(path, images):
    with warnings.catch_warnings():  # "use the LiteRT interpreter", not installed here
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_path=str(path))
    (given,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(given["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], images)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


RUNTIMES = {"savedmodel": _saved_model_outputs, "onnx": _onnx_outputs, "tflite": _tflite_outputs}


@pytest.mark.parametrize("name", sorted(RUNTIMES))
def test_the_export_reloaded_by_its_runtime_matches_keras(name, exported, loaded_model, images):
    if name == "onnx":
        _needs_onnx()
    result = exported(name)
    assert result.max_abs_diff <= 1e-4 and result.metadata["check"]["images"] == 16
    outputs = RUNTIMES[name](result.path, images)  # 16 images the check did not see
    expected = loaded_model.predict(images, verbose=0)
    assert outputs.shape == (16, 1)
    assert np.abs(outputs - expected).max() <= 1e-4
    assert expected.std() > 0.05  # the images do not all give one probability


@pytest.mark.parametrize("name", ["savedmodel", "onnx"])
def test_the_metadata_names_the_source_and_its_threshold(name, exported, model_file, loaded_model):
    if name == "onnx":
        _needs_onnx()
    result = exported(name)
    expected_path = result.path / "keras_cxr.json" if name == "savedmodel" else None
    expected_path = expected_path or result.path.with_name(result.path.name + ".json")
    assert result.metadata_path == expected_path
    metadata = json.loads(expected_path.read_text())
    assert metadata["threshold"] == THRESHOLD and metadata["threshold_source"] == "model file"
    assert metadata["class_names"] == ["NORMAL", "PNEUMONIA"]
    assert metadata["input"]["shape"] == [SIZE, SIZE, 3]
    assert metadata["source"]["fingerprint"] == model_fingerprint(loaded_model)
    assert metadata["source"]["path"] == str(model_file)
    assert metadata["versions"]["keras_cxr"] == keras_cxr.__version__
    assert metadata["check"]["max_abs_diff"] == result.max_abs_diff <= 1e-4


def test_an_existing_export_is_kept_unless_overwrite(exported, model_file):
    _needs_onnx()
    path = exported("onnx").path
    sidecar = path.with_name(path.name + ".json")
    before = path.read_bytes(), sidecar.read_text()
    with pytest.raises(FileExistsError, match="already exists; choose another --out, or pass"):
        export_model(model_file, path, "onnx")
    assert (path.read_bytes(), sidecar.read_text()) == before

    result = export_model(model_file, path, "onnx", overwrite=True, threshold=0.25)
    assert json.loads(sidecar.read_text())["threshold"] == 0.25 == result.metadata["threshold"]
    assert result.max_abs_diff <= 1e-4


def test_missing_parent_folders_are_created(exported):
    result = exported("savedmodel")  # to <tmp>/savedmodel/serving/1
    assert (result.path / "saved_model.pb").is_file() and result.metadata_path.is_file()
    assert (result.path.stat().st_mode & 0o777) == 0o777 & ~_umask()  # readable by a server
    assert [p.name for p in result.path.parent.iterdir()] == ["1"]  # no temporary left


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_check_writes_nothing(monkeypatch, model_file, tmp_path):
    _needs_onnx()
    module = importlib.import_module("keras_cxr.export.export_model")
    # A runtime that disagrees with Keras, as a broken converter would.
    monkeypatch.setattr(module, "compare_export", lambda *a, **k: {"probabilities": 0.5})
    with pytest.raises(ValueError, match=r"differs from the Keras model by up to 0.5 .*nothing"):
        export_model(model_file, tmp_path / "model.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_fail_before_any_work(model_file, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"argument `format`\. Expected one of \['savedmodel'"):
        export_model(model_file, tmp_path / "x", "torchscript")
    with pytest.raises(ValueError, match=r"Expected a path ending in '\.onnx' for onnx"):
        export_model(model_file, tmp_path / "model.tflite", "onnx")
    with pytest.raises(ValueError, match="argument `threshold`"):
        export_model(model_file, tmp_path / "sm", "savedmodel", threshold=1.5)
    with pytest.raises(ValueError, match=r"argument `tolerance`\. Expected a number >= 0"):
        export_model(model_file, tmp_path / "sm", "savedmodel", tolerance=-1)
    with pytest.raises(FileNotFoundError, match="No model file"):
        export_model(tmp_path / "missing.keras", tmp_path / "sm", "savedmodel")
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # not installed
    with pytest.raises(ImportError, match=r'needs tf2onnx, .*pip install "keras-cxr\[export\]"'):
        export_model(model_file, tmp_path / "m.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []
