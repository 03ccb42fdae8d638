"""`keras_cxr.explain_folder` refuses bad input early, with a message naming the fix."""

from __future__ import annotations

import sys

import keras
import pytest

import keras_cxr
from keras_cxr.scale import OutputExistsError


def _explain(model, sources, out, **options):
    return keras_cxr.explain_folder(model, sources, out, progress=False, **options)


def test_a_folder_without_images_creates_nothing(explainer, tmp_path):
    (tmp_path / "scans" / "NORMAL").mkdir(parents=True)
    (tmp_path / "scans" / "notes.txt").write_text("nothing to see")
    with pytest.raises(ValueError, match=r"No image found in .*scans'\]: expected files ending"):
        _explain(explainer, tmp_path / "scans", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_output_path_that_is_a_file(explainer, archive, tmp_path):
    (tmp_path / "out").write_text("mine")
    with pytest.raises(NotADirectoryError, match=r"Cannot write to the output folder .* is a file"):
        _explain(explainer, archive, tmp_path / "out")
    assert (tmp_path / "out").read_text() == "mine"


def test_a_folder_of_other_files_is_never_written_into(explainer, archive, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"kind": "someone else\'s"}')
    for resume in (False, True):
        with pytest.raises(OutputExistsError, match=r"holds files but no explained archive"):
            _explain(explainer, archive, out, resume=resume)
    assert [p.name for p in out.iterdir()] == ["manifest.json"]


def test_a_previous_run_needs_resume(explainer, archive, tmp_path):
    _explain(explainer, archive / "test" / "NORMAL", tmp_path / "out")
    with pytest.raises(OutputExistsError, match=r"already holds an explained archive.*--resume"):
        _explain(explainer, archive, tmp_path / "out")


def test_a_model_that_is_not_a_classifier(archive, tmp_path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    regressor = keras.Model(inputs, keras.layers.Dense(2)(x), name="regressor")
    with pytest.raises(ValueError, match=r"Expected a classifier with one output.*regressor"):
        _explain(regressor, archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_options(explainer, archive, tmp_path, monkeypatch):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"`save`. Expected one of \['heatmaps', 'overlays'"):
        _explain(explainer, archive, out, save="figures")
    with pytest.raises(ValueError, match=r"`shard_size`. Expected an integer >= 1"):
        _explain(explainer, archive, out, shard_size=0)
    with pytest.raises(ValueError, match=r"`workers`. Expected an integer >= 1"):
        _explain(explainer, archive, out, workers=0)
    with pytest.raises(ValueError, match=r"`table_format`. Expected one of \['auto'"):
        _explain(explainer, archive, out, table_format="xlsx")
    with pytest.raises(ValueError, match=r"without \['method'\] \(the explainer has its own\)"):
        _explain(explainer, archive, out, method="hirescam")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    with pytest.raises(ImportError, match=r"needs pyarrow: pip install pyarrow"):
        _explain(explainer, archive, out, table_format="parquet")
    assert not out.exists()
    summary = _explain(explainer, archive / "test" / "NORMAL", out)  # "auto" falls back to CSV
    assert [p.suffix for p in summary.tables] == [".csv"]
