"""Export formats and destinations: names, metadata paths, and what may not be replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_cxr.export import FORMATS, check_destination, get_format, metadata_path


def test_formats_and_their_metadata_paths():
    assert list(FORMATS) == ["savedmodel", "onnx", "tflite", "explaining-savedmodel"]
    assert metadata_path("out/sm", get_format("savedmodel")) == Path("out/sm/keras_cxr.json")
    assert metadata_path("a/m.tflite", get_format("tflite")) == Path("a/m.tflite.json")
    assert get_format("explaining-savedmodel").is_folder and not get_format("onnx").is_folder
    with pytest.raises(ValueError, match=r"argument `format`. .* Received: format=None"):
        get_format(None)


def test_a_free_destination_is_accepted_and_creates_nothing(tmp_path):
    assert check_destination(tmp_path / "m.onnx", get_format("onnx"), False) == tmp_path / "m.onnx"
    assert check_destination(tmp_path / "sm", get_format("savedmodel"), False) == tmp_path / "sm"
    assert list(tmp_path.iterdir()) == []


def test_what_is_there_is_not_replaced(tmp_path):
    (tmp_path / "m.onnx.json").write_text("{}")  # a metadata file without its export
    with pytest.raises(FileExistsError, match=r"m.onnx.json' already exists; choose another"):
        check_destination(tmp_path / "m.onnx", get_format("onnx"), overwrite=False)
    (tmp_path / "sm").write_text("a file where the folder would go")
    with pytest.raises(FileExistsError, match="is a file, which a savedmodel export does not"):
        check_destination(tmp_path / "sm", get_format("savedmodel"), overwrite=True)
    (tmp_path / "d.tflite").mkdir()
    with pytest.raises(FileExistsError, match="is a folder, which a tflite export does not"):
        check_destination(tmp_path / "d.tflite", get_format("tflite"), overwrite=True)
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_destination(tmp_path / "sm" / "m.onnx", get_format("onnx"), overwrite=False)
    with pytest.raises(ValueError, match=r"Expected a path ending in '.tflite' for tflite"):
        check_destination(tmp_path / "m.lite", get_format("tflite"), overwrite=False)
