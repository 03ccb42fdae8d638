"""Table parts written atomically, in Parquet or CSV, and read back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cxr.scale.results_table import part_numbers, read_parts, write_part


def _formats():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return ["csv", pytest.param("parquet", marks=pytest.mark.skip(reason="needs pyarrow"))]
    return ["csv", "parquet"]


@pytest.mark.parametrize("table_format", _formats())
def test_parts_read_back_exactly_and_in_order(tmp_path, table_format):
    first = {
        "path": ['/a/x, "quoted".png', "/b/é.dcm"],
        "label": ["NORMAL", ""],
        "probability": np.array([0.1234567, np.nan], np.float32),
        "decision": np.array([0, 1]),
    }
    second = {
        "path": ["/c.png"],
        "label": ["PNEUMONIA"],
        "probability": np.array([1 / 3], np.float32),
        "decision": np.array([1]),
    }
    write_part(tmp_path / f"part-00010.{table_format}", second, table_format)
    write_part(tmp_path / f"part-00002.{table_format}", first, table_format)
    table = read_parts(tmp_path)
    assert list(table["path"]) == ['/a/x, "quoted".png', "/b/é.dcm", "/c.png"]
    assert list(table["label"]) == ["NORMAL", "", "PNEUMONIA"]
    np.testing.assert_array_equal(
        table["probability"], np.array([0.1234567, np.nan, 1 / 3], np.float32)
    )
    assert table["probability"].dtype == np.float32 and table["decision"].dtype == np.int64
    np.testing.assert_array_equal(table["decision"], [0, 1, 1])
    assert part_numbers(tmp_path) == [2, 10]


@pytest.mark.parametrize("table_format", _formats())
def test_an_empty_part_keeps_its_columns(tmp_path, table_format):
    write_part(tmp_path / f"part-00000.{table_format}", {"path": [], "score": []}, table_format)
    table = read_parts(tmp_path)
    assert list(table) == ["path", "score"] and len(table["path"]) == 0


def test_temporaries_and_other_files_are_not_parts(tmp_path):
    (tmp_path / ".part-00003.abc.csv").write_text("path\nhalf")
    (tmp_path / "part-1.csv").write_text("path\nnot a part name")
    (tmp_path / "notes.csv").write_text("path\nmine")
    assert part_numbers(tmp_path) == [] and read_parts(tmp_path) == {}
    assert read_parts(tmp_path / "missing") == {}
