"""Writing a figure as a PNG file that readers never see half-written."""

from __future__ import annotations

import os
from pathlib import Path

from keras_cxr.atomic import atomic_write

#: zlib level of the PNG: X-rays compress about as well at 1 as at the default 6, several
#: times faster, which matters for a file written every epoch.
COMPRESS_LEVEL = 1


def write_png(figure, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure as a PNG through `keras_cxr.atomic.atomic_write`.

    The PNG is encoded into a temporary file beside `path` and renamed into place, so a
    reader (TensorBoard, a file browser, a sync job) sees either the previous file or the
    complete new one; if encoding or renaming fails, the temporary file is removed. The
    figure is saved at its own dpi, so a grid placed pixel for pixel
    (`keras_cxr.viz.plot_grid(layout="pixels")`) keeps its pixels.

    Args:
        figure: A `matplotlib.figure.Figure`.
        path: The PNG file to write; its folder must exist.

    Returns:
        `path` as a `Path`.

    Raises:
        OSError: If the folder cannot be written or the file cannot be renamed.

    Example:
        >>> figure = keras_cxr.viz.plot_grid(images, {"fused": heatmaps}, layout="pixels")
        >>> keras_cxr.callbacks.png_writer.write_png(figure, "logs/gradcam/epoch_001.png")
        PosixPath('logs/gradcam/epoch_001.png')
    """

    def encode(temporary: Path) -> None:
        with open(temporary, "xb") as handle:
            figure.savefig(
                handle, format="png", dpi="figure", pil_kwargs={"compress_level": COMPRESS_LEVEL}
            )

    return atomic_write(path, encode)
