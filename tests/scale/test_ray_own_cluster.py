"""`explain_dataset` without a running Ray: it starts a local cluster and shuts it down."""

from __future__ import annotations

import pytest

import keras_cxr
from keras_cxr.scale import read_results

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from keras_cxr.scale.ray import explain_dataset  # noqa: E402


@pytest.mark.slow
def test_a_cluster_of_its_own_is_started_and_shut_down(model_file, archive, tmp_path):
    if ray.is_initialized():  # another module's cluster
        ray.shutdown()
    options = {"batch_size": 4, "table_format": "csv", "progress": False}
    expected = tmp_path / "folder"
    keras_cxr.explain_folder(model_file, archive / "test", expected, **options)
    summary = explain_dataset(model_file, archive / "test", tmp_path / "out", **options)
    assert not ray.is_initialized()
    table, reference = read_results(tmp_path / "out"), read_results(expected)
    assert summary.explained == len(reference["path"]) > 0
    assert list(table["path"]) == list(reference["path"])
    assert list(table["predicted"]) == list(reference["predicted"])
