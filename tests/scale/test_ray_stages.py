"""The Ray stages, called as plain functions: rows decoded like `explain_folder`, explained."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cxr import __version__
from keras_cxr.scale.ray_stages import ExplainActor, decode_batch, explain_rows

from ._reference import image_files, reference


def _rows(paths):
    return {
        "path": np.asarray([str(p) for p in paths]),
        "label": np.asarray([p.parent.name for p in paths]),
    }


def test_failed_files_stay_rows_with_their_reason(explainer, archive, tmp_path):
    paths = image_files(archive / "test")[:3]
    broken = tmp_path / "NORMAL" / "broken.jpeg"
    broken.parent.mkdir()
    broken.write_bytes(b"\xff\xd8 not really a JPEG")
    rows = decode_batch(_rows([paths[0], broken, *paths[1:]]), explainer.image_size, "rgb")
    assert rows["image"].shape == (4, 32, 32, 3) and rows["image"].dtype == np.uint8
    assert list(rows["reason"] == "") == [True, False, True, True]
    assert rows["reason"][1].startswith("Cannot decode") and not rows["image"][1].any()
    images, expected = reference(explainer, paths)
    np.testing.assert_array_equal(rows["image"][[0, 2, 3]], images)

    answer = explain_rows(explainer, rows)
    assert "image" not in answer and list(answer["label"]) == [
        "NORMAL",
        "NORMAL",
        *rows["label"][2:],
    ]
    for key in ("probability", "score", *explainer.heatmap_keys):
        np.testing.assert_allclose(answer[key][[0, 2, 3]], expected[key], atol=1e-5, err_msg=key)
        assert not answer[key][1].any()
    np.testing.assert_array_equal(answer["decision"][[0, 2, 3]], expected["decision"])
    assert "image" in explain_rows(explainer, rows, keep_images=True)


def test_an_actor_refuses_another_keras_cxr_version(model_file):
    with pytest.raises(RuntimeError, match=r"runs keras_cxr .*, the driver 0.0.0-other"):
        ExplainActor(str(model_file), "gradcam", [], 0.5, 4, False, "0.0.0-other")
    assert __version__ != "0.0.0-other"


def test_shrunk_maps_keep_the_statistics_of_the_full_maps(explainer, archive):
    from keras_cxr.scale.shard_writer import STATISTICS_PREFIX, map_statistics, stored_size

    rows = decode_batch(_rows(image_files(archive / "test")[:4]), explainer.image_size, "rgb")
    full = explain_rows(explainer, rows)
    shrunk = explain_rows(explainer, rows, heatmap_size=8)
    for key in explainer.heatmap_keys:
        assert full[key].shape[1:] == (32, 32) and shrunk[key].shape[1:] == (8, 8)
        np.testing.assert_allclose(shrunk[key], stored_size(full[key], 8), atol=1e-6)
        # the mean of each 4 x 4 cell, computed here by hand
        cells = full[key].reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
        np.testing.assert_allclose(shrunk[key], cells, atol=1e-5)
    expected = map_statistics(full, explainer.heatmap_keys)
    assert sorted(expected) and all(STATISTICS_PREFIX + name in shrunk for name in expected)
    for name, column in expected.items():
        np.testing.assert_allclose(shrunk[STATISTICS_PREFIX + name], column, err_msg=name)
    assert not any(name.startswith(STATISTICS_PREFIX) for name in full)
