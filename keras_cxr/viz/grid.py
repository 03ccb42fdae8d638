"""A grid of images and their heatmap overlays: one row per image, one column per map set."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.viz.overlay import overlay, to_uint8_rgb

LAYOUTS = ("axes", "pixels")

# The "pixels" layout places cells at this resolution; the margins, in pixels, leave room
# for the titles.
_DPI = 100
_GAP_PIXELS = 4
_LEFT_PIXELS = 18
_TOP_PIXELS = 40


def grid_rows(
    images: np.ndarray,
    columns: Mapping[str, np.ndarray],
    alpha: float = 0.4,
    colormap: str = "jet",
) -> np.ndarray:
    """Each image's row of the grid as one strip: the image, then one overlay per map set.

    These are the pixels `plot_grid` lays out, without titles or gaps; a strip is also the
    picture to log for one image (e.g. to TensorBoard).

    Args:
        images: `(batch, height, width[, channels])` raw images.
        columns: Column title → heatmaps `(batch, height, width)` in [0, 1].
        alpha: Overlay weight in [0, 1]. Defaults to 0.4.
        colormap: OpenCV colormap name. Defaults to `"jet"`.

    Returns:
        uint8 RGB `(batch, height, (1 + len(columns)) * width, 3)`.

    Raises:
        ValueError: If a heatmap set does not have one map per image, or for a bad
            `alpha` or `colormap`.

    Example:
        >>> strips = keras_cxr.viz.grid_rows(images, {"fused": explanation.heatmaps})
        >>> strips.shape  # two cells side by side
        (8, 224, 448, 3)
    """
    base = to_uint8_rgb(images)
    cells = [base] + [overlay(base, maps, alpha, colormap) for maps in columns.values()]
    return np.concatenate(cells, axis=2)


def plot_grid(
    images: np.ndarray,
    columns: Mapping[str, np.ndarray],
    titles: Sequence[str] | None = None,
    alpha: float = 0.4,
    colormap: str = "jet",
    cell_size: float = 2.2,
    *,
    title: str | None = None,
    layout: str = "axes",
):
    """Draw one row per image: the image, then one overlay per named heatmap set.

    Two layouts draw the same grid. `"axes"` gives every cell its own matplotlib Axes
    under a constrained layout, so callers can draw on a cell (`figure.axes[row *
    n_columns + column]`, e.g. to outline a lesion); for many rows the layout pass takes
    seconds. `"pixels"` composes the grid in NumPy and places it pixel for pixel with
    `figimage` at 100 dpi (no Axes, no resampling, no layout pass), with the titles as
    figure text: tens of milliseconds plus the PNG encoding, for code that draws a grid
    every epoch; images smaller than `cell_size` are enlarged by a whole factor (nearest
    neighbour), so their pixels stay visible.

    Args:
        images: `(batch, height, width[, channels])` raw images.
        columns: Column title → heatmaps `(batch, height, width)` in [0, 1]; e.g. one
            entry per backbone and one for the fused map.
        titles: Optional text per row, shown beside the image (label, probability).
            Defaults to None.
        alpha: Overlay weight in [0, 1]. Defaults to 0.4.
        colormap: OpenCV colormap name. Defaults to `"jet"`.
        cell_size: Inches per cell; with `layout="pixels"`, the least side of a cell in
            inches at 100 dpi. Defaults to 2.2.
        title: Optional title above the grid. Defaults to None.
        layout: `"axes"` or `"pixels"` (see above). Defaults to `"axes"`.

    Returns:
        A `matplotlib.figure.Figure` (not shown; save it with `fig.savefig`).

    Raises:
        ValueError: If a heatmap set does not have one map per image, `titles` not one
            text per image, or for a bad `alpha`, `colormap`, `cell_size` or `layout`.

    Example:
        >>> fig = keras_cxr.viz.plot_grid(images, {"fused": explanation.heatmaps})
        >>> fig.savefig("gradcam.png")
        >>> fast = keras_cxr.viz.plot_grid(images, {"fused": heatmaps}, layout="pixels")
    """
    if layout not in LAYOUTS:
        raise invalid_value("layout", f"one of {list(LAYOUTS)}", layout)
    if isinstance(cell_size, bool) or not isinstance(cell_size, numbers.Real) or cell_size <= 0:
        raise invalid_value("cell_size", "a positive number of inches", cell_size)
    rows = grid_rows(images, columns, alpha, colormap)
    if titles is not None and len(titles) != rows.shape[0]:
        raise invalid_value("titles", f"one text per image ({rows.shape[0]})", list(titles))
    column_titles = ["image", *columns]
    if layout == "axes":
        return _axes_figure(rows, column_titles, titles, cell_size, title)
    return _pixels_figure(rows, column_titles, titles, cell_size, title)


def _cells(rows: np.ndarray, count: int) -> np.ndarray:
    """`(batch, height, count * width, 3)` strips → `(batch, height, count, width, 3)`."""
    batch, height, width, _ = rows.shape
    return rows.reshape(batch, height, count, width // count, 3)


def _axes_figure(rows, column_titles, row_titles, cell_size: float, title: str | None):
    from matplotlib.figure import Figure  # a Figure needs no GUI backend or pyplot state

    count = len(column_titles)
    cells = _cells(rows, count)
    figure = Figure(
        figsize=(cell_size * count, cell_size * rows.shape[0] * 1.08), layout="constrained"
    )
    axes = np.asarray(figure.subplots(rows.shape[0], count, squeeze=False))
    for row in range(rows.shape[0]):
        for column, name in enumerate(column_titles):
            axis = axes[row, column]
            axis.imshow(cells[row, :, column])
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name, fontsize=8)
        if row_titles is not None:
            axes[row, 0].set_ylabel(row_titles[row], fontsize=7)
    if title is not None:
        figure.suptitle(title, fontsize=9)
    return figure


def _pixels_figure(rows, column_titles, row_titles, cell_size: float, title: str | None):
    from matplotlib.figure import Figure

    count = len(column_titles)
    cells = _cells(rows, count)
    batch, height, _, width, _ = cells.shape
    zoom = max(1, math.ceil(cell_size * _DPI / max(height, width)))
    if zoom > 1:
        cells = cells.repeat(zoom, axis=1).repeat(zoom, axis=3)
        height, width = height * zoom, width * zoom
    gap = _GAP_PIXELS
    cells = np.pad(cells, ((0, 0), (0, gap), (0, 0), (0, gap), (0, 0)), constant_values=255)
    grid = cells.reshape(batch * (height + gap), count * (width + gap), 3)[:-gap, :-gap]

    left, top, margin = _LEFT_PIXELS, _TOP_PIXELS, gap
    figure_width = left + grid.shape[1] + margin
    figure_height = top + grid.shape[0] + margin
    figure = Figure(figsize=(figure_width / _DPI, figure_height / _DPI), dpi=_DPI)
    figure.figimage(grid, xo=left, yo=margin, origin="upper")
    if title is not None:
        figure.text(0.5, 1 - 4 / figure_height, title, ha="center", va="top", fontsize=9)
    for column, text in enumerate(column_titles):
        x = (left + column * (width + gap) + width / 2) / figure_width
        figure.text(x, 1 - (top - 4) / figure_height, text, ha="center", va="bottom", fontsize=8)
    for row, text in enumerate(row_titles or ()):
        y = 1 - (top + row * (height + gap) + height / 2) / figure_height
        figure.text(
            (left - 4) / figure_width, y, text, ha="right", va="center", rotation=90, fontsize=7
        )
    return figure
