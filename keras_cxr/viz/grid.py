"""A matplotlib grid of images and their heatmap overlays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_cxr.viz.overlay import overlay, to_uint8_rgb


def plot_grid(
    images: np.ndarray,
    columns: dict[str, np.ndarray],
    titles: Sequence[str] | None = None,
    alpha: float = 0.4,
    colormap: str = "jet",
    cell_size: float = 2.2,
):
    """Draw one row per image: the image, then one overlay per named heatmap set.

    Args:
        images: `(batch, height, width[, channels])` raw images.
        columns: Column title → heatmaps `(batch, height, width)` in [0, 1]; e.g. one
            entry per backbone and one for the fused map.
        titles: Optional text per row, shown above the image (label, probability).
        alpha: Overlay weight. Defaults to 0.4.
        colormap: OpenCV colormap name. Defaults to `"jet"`.
        cell_size: Inches per cell. Defaults to 2.2.

    Returns:
        A `matplotlib.figure.Figure` (not shown; save it with `fig.savefig`).

    Raises:
        ValueError: If a heatmap set does not have one map per image.

    Example:
        >>> fig = keras_cxr.viz.plot_grid(images, {"fused": explanation.heatmaps})
        >>> fig.savefig("gradcam.png")
    """
    from matplotlib.figure import Figure  # a Figure needs no GUI backend

    base = to_uint8_rgb(images)
    rows, cols = base.shape[0], 1 + len(columns)
    figure = Figure(figsize=(cell_size * cols, cell_size * rows * 1.08), layout="constrained")
    axes = np.asarray(figure.subplots(rows, cols, squeeze=False))
    blended = {name: overlay(base, maps, alpha, colormap) for name, maps in columns.items()}
    for row in range(rows):
        cells = [("image", base[row])] + [(name, blended[name][row]) for name in columns]
        for col, (name, picture) in enumerate(cells):
            axis = axes[row, col]
            axis.imshow(picture)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name, fontsize=8)
        if titles is not None:
            axes[row, 0].set_ylabel(titles[row], fontsize=7)
    return figure
