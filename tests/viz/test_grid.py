"""Tests of `keras_cxr.viz.grid`: the strips, and the grid in both layouts."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from keras_cxr.viz import grid_rows, overlay, plot_grid, to_uint8_rgb


def _inputs(count: int = 3, size: int = 8):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    columns = {"a": rng.uniform(0, 1, (count, size, size)), "fused": np.ones((count, size, size))}
    return images, columns


def test_rows_are_the_image_then_each_overlay_side_by_side():
    images, columns = _inputs()
    rows = grid_rows(images, columns, alpha=0.3, colormap="turbo")
    assert rows.shape == (3, 8, 24, 3) and rows.dtype == np.uint8
    np.testing.assert_array_equal(rows[:, :, :8], to_uint8_rgb(images))
    np.testing.assert_array_equal(rows[:, :, 8:16], overlay(images, columns["a"], 0.3, "turbo"))
    np.testing.assert_array_equal(rows[:, :, 16:], overlay(images, columns["fused"], 0.3, "turbo"))


def test_grid_has_a_cell_per_image_and_column(tmp_path):
    images = np.zeros((3, 8, 8, 3), np.uint8)
    figure = plot_grid(
        images, {"a": np.zeros((3, 8, 8)), "fused": np.ones((3, 8, 8))}, titles=["x", "y", "z"]
    )
    assert len(figure.axes) == 9
    assert figure.axes[1].get_title() == "a"
    path = tmp_path / "grid.png"
    figure.savefig(path)
    assert cv2.imread(str(path)) is not None


def test_axes_layout_shows_the_strips_cells_and_titles():
    images, columns = _inputs()
    figure = plot_grid(images, columns, titles=["x", "y", "z"], title="epoch 1")
    rows = grid_rows(images, columns)
    np.testing.assert_array_equal(figure.axes[4].images[0].get_array(), rows[1, :, 8:16])
    assert [axis.get_title() for axis in figure.axes[:3]] == ["image", "a", "fused"]
    assert figure.axes[3].get_ylabel() == "y" and figure.get_suptitle() == "epoch 1"


def test_pixels_layout_places_enlarged_cells_pixel_for_pixel(tmp_path):
    images, columns = _inputs()
    figure = plot_grid(images, columns, titles=["x", "y", "z"], cell_size=0.4, layout="pixels")
    assert figure.axes == []
    texts = [text.get_text() for text in figure.texts]
    assert texts == ["image", "a", "fused", "x", "y", "z"]
    path = tmp_path / "grid.png"
    figure.savefig(path, dpi="figure")
    picture = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    zoom, gap, left, top = 5, 4, 18, 40  # 8-pixel cells enlarged to at least 40 pixels
    assert picture.shape == (top + 3 * 40 + 2 * gap + gap, left + 3 * 40 + 2 * gap + gap, 3)
    rows = grid_rows(images, columns)
    for row in range(3):
        for column in range(3):
            y, x = top + row * (40 + gap), left + column * (40 + gap)
            cell = rows[row, :, 8 * column : 8 * (column + 1)]
            expected = cell.repeat(zoom, axis=0).repeat(zoom, axis=1)
            np.testing.assert_array_equal(
                picture[y + 2 : y + 38, x + 2 : x + 38], expected[2:38, 2:38]
            )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "table"}, "argument `layout`. Expected one of ['axes', 'pixels']"),
        ({"cell_size": 0}, "argument `cell_size`. Expected a positive number of inches"),
        ({"titles": ["x"]}, "argument `titles`. Expected one text per image (3)"),
    ],
)
def test_bad_arguments(kwargs, message):
    images, columns = _inputs()
    with pytest.raises(ValueError, match=re.escape(message)):
        plot_grid(images, columns, **kwargs)


def test_a_heatmap_set_must_have_one_map_per_image():
    images, columns = _inputs()
    with pytest.raises(ValueError, match="argument `heatmaps`"):
        grid_rows(images, {"a": columns["a"][:2]})
