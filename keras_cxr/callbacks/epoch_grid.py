"""`EpochGrid`: what a logged epoch shows, one row per image, for the PNG and TensorBoard."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_cxr.explain import Explanation
from keras_cxr.viz.grid import grid_rows, plot_grid

#: Least side of a cell of the PNG, in inches at 100 dpi: smaller images are enlarged.
CELL_INCHES = 1.6


@dataclass
class EpochGrid:
    """The grid of one logged epoch: the images, their overlays, and the titles.

    Columns and row titles are those of `keras_cxr.Explanation.plot`: the image, one
    overlay per target layer when there are several (titled with the last two parts of
    the layer path) and the fused overlay (titled `"fused"`, or with the method name for
    one layer); each row is titled with the true label (when known), the explained class
    and its predicted probability.

    Attributes:
        images: The explained images `(N, H, W, C)`.
        columns: Column title → heatmaps `(N, H, W)` in [0, 1].
        row_titles: One text per image.
        title: The figure's title, e.g. `"gradcam, epoch 3"`.

    Example:
        >>> grid = keras_cxr.callbacks.epoch_grid.EpochGrid.from_explanation(
        ...     explanation, images, labels=[0, 1], epoch=2
        ... )
        >>> grid.figure().savefig("epoch_003.png")
    """

    images: np.ndarray
    columns: dict[str, np.ndarray]
    row_titles: list[str]
    title: str

    @classmethod
    def from_explanation(
        cls,
        explanation: Explanation,
        images: np.ndarray,
        labels: np.ndarray | None = None,
        epoch: int = 0,
    ) -> EpochGrid:
        """The grid of `explanation` of `images` at the 0-based `epoch`.

        Args:
            explanation: A `keras_cxr.Explanation` of `images`.
            images: The explained images `(N, H, W, C)`.
            labels: `None`, or the true class index of each image. Defaults to None.
            epoch: 0-based epoch, shown 1-based in the title. Defaults to 0.

        Returns:
            An `EpochGrid`.

        Example:
            >>> grid = keras_cxr.callbacks.epoch_grid.EpochGrid.from_explanation(
            ...     keras_cxr.GradCAM(model).explain(images), images
            ... )
        """
        # The same columns and titles as `Explanation.plot`, which draws them with the
        # slower "axes" layout and so cannot serve a callback.
        several = len(explanation.layer_heatmaps) > 1
        columns = {}
        if several:
            columns = {_short(path): maps for path, maps in explanation.layer_heatmaps.items()}
        columns["fused" if several else explanation.method] = explanation.heatmaps
        row_titles = []
        for index, (klass, probability) in enumerate(
            zip(explanation.class_index, explanation.probabilities)
        ):
            text = f"class {klass} p={probability:.2f}"
            row_titles.append(text if labels is None else f"label {labels[index]} | {text}")
        title = f"{explanation.method}, epoch {epoch + 1}"
        return cls(images, columns, row_titles, title)

    def rows(self) -> np.ndarray:
        """Each image's row as one uint8 RGB strip `(N, H, (1 + columns) * W, 3)`.

        Returns:
            The strips of `keras_cxr.viz.grid_rows`, at the images' own size.

        Example:
            >>> grid.rows()[0].shape  # image, two branch overlays, fused overlay
            (224, 896, 3)
        """
        return grid_rows(self.images, self.columns)

    def figure(self):
        """The grid as a figure, pixel for pixel (`keras_cxr.viz.plot_grid(layout="pixels")`).

        Returns:
            A `matplotlib.figure.Figure` at 100 dpi; cells are at least `CELL_INCHES`.

        Example:
            >>> keras_cxr.callbacks.png_writer.write_png(grid.figure(), "epoch_001.png")
        """
        return plot_grid(
            self.images,
            self.columns,
            titles=self.row_titles,
            cell_size=CELL_INCHES,
            title=self.title,
            layout="pixels",
        )


def _short(path: str) -> str:
    return "/".join(path.split("/")[-2:])
