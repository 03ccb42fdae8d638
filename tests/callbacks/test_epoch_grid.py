"""Tests of `keras_cxr.callbacks.epoch_grid.EpochGrid`: the columns and titles of an epoch."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cxr.callbacks.epoch_grid import EpochGrid
from keras_cxr.explain import Explanation
from keras_cxr.viz import grid_rows

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def _explanation(paths: list[str]) -> Explanation:
    rng = np.random.default_rng(0)
    maps = {path: rng.uniform(0, 1, (2, 8, 8)).astype("float32") for path in paths}
    return Explanation(
        heatmaps=np.mean(list(maps.values()), axis=0),
        layer_heatmaps=maps,
        scores=np.zeros(2, "float32"),
        class_index=np.array([1, 0], "int32"),
        predictions=np.array([[0.8], [0.3]], "float32"),
        target_layers=paths,
        method="gradcam++",
    )


def test_one_layer_gives_the_image_and_the_method_column():
    images = np.zeros((2, 8, 8, 3), np.uint8)
    explanation = _explanation(["conv"])
    grid = EpochGrid.from_explanation(explanation, images, epoch=2)
    assert list(grid.columns) == ["gradcam++"]
    assert grid.row_titles == ["class 1 p=0.80", "class 0 p=0.70"]
    assert grid.title == "gradcam++, epoch 3"
    np.testing.assert_array_equal(grid.rows(), grid_rows(images, grid.columns))


def test_several_layers_give_one_column_each_and_the_fused_one():
    images = np.zeros((2, 8, 8, 3), np.uint8)
    explanation = _explanation(["ensemble/a/relu", "ensemble/b/out"])
    grid = EpochGrid.from_explanation(explanation, images, labels=np.array([1, 1]))
    assert list(grid.columns) == ["a/relu", "b/out", "fused"]
    np.testing.assert_array_equal(
        grid.columns["b/out"], explanation.layer_heatmaps["ensemble/b/out"]
    )
    assert grid.row_titles[1] == "label 1 | class 0 p=0.70"
    assert grid.rows().shape == (2, 8, 32, 3)
    figure = grid.figure()
    assert figure.axes == [] and figure.dpi == 100
    assert [t.get_text() for t in figure.texts][:5] == [
        "gradcam++, epoch 1",
        "image",
        "a/relu",
        "b/out",
        "fused",
    ]
