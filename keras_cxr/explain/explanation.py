"""`Explanation`: the result of explaining a batch of images."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from keras_cxr.viz.grid import plot_grid
from keras_cxr.viz.overlay import overlay as _overlay


@dataclass
class Explanation:
    """Heatmaps and the predictions they explain, for a batch of images.

    Attributes:
        heatmaps: float32 `(batch, height, width)` at input resolution, in [0, 1], never
            NaN; for several target layers, the fused map (the normalised mean of the
            per-layer maps).
        layer_heatmaps: Target-layer path → float32 `(batch, height, width)` in [0, 1];
            empty for the pixel attribution methods, which have no target layer.
        scores: float32 `(batch,)`: the explained score (logit or probability) per image.
        class_index: int32 `(batch,)`: the class explained for each image.
        predictions: float32 `(batch, units)`: the model's output (probabilities).
        target_layers: Paths of the target layers, e.g.
            `["stacked_backbones/mobilenet_v2/out_relu", ...]`.
        method: Name of the method, e.g. `"gradcam"` or `"integrated_gradients"`.
        attributions: For the pixel attribution methods (`keras_cxr.explain.Saliency`,
            `IntegratedGradients`, ...), the raw attribution of each pixel, float32
            `(batch, height, width)`: signed and not normalised (summed over the
            channels; `Saliency` takes the largest |gradient| over them instead). `None`
            for the CAM family: a class activation map is defined up to scale and lives
            on a feature-map grid, so it is no attribution of pixels to the score (its
            ReLU'd, min-max scaled form is `heatmaps`).
        display: How `heatmaps` were made from `attributions`: `"abs"` (the magnitude)
            or `"positive"` (the positive part: evidence for the class), each then min-max
            scaled per image like the CAMs. `None` for the CAM family.
        completeness_gap: float32 `(batch,)` for methods whose attributions should add up
            to the change of score from a baseline (`IntegratedGradients`, `SHAP`):
            `Σ attributions − (f(image) − f(baseline))` per image, in score units. It
            measures how well the path integral (or the sampling) converged; `None`
            otherwise.
        image_index: int64 `(rows,)` when several classes of an image were explained
            (`class_index=[2, 5]`, `[[2, 5], [0]]` or `"positive"`, see
            `keras_cxr.explain.findings`): then every field above has one row per
            `(image, class)` pair, and `image_index[row]` is that row's image in the
            explained batch (`class_index[row]` its class). `None` when rows are the
            images themselves.

    Args:
        **fields: The attributes above, one argument each (`target_layers` defaults to
            `[]`, `method` to `"gradcam"`, the last four to `None`); explainers build
            it, users read it.

    Returns:
        The dataclass; `len(explanation)` is the batch size (the number of rows).

    Raises:
        Nothing of its own: the fields are not validated (the explainer made them).

    Example:
        >>> explanation = keras_cxr.GradCAM(model).explain(images)
        >>> rgb = explanation.overlay(images)
        >>> explanation.plot(images).savefig("gradcam.png")
    """

    heatmaps: np.ndarray
    layer_heatmaps: dict[str, np.ndarray]
    scores: np.ndarray
    class_index: np.ndarray
    predictions: np.ndarray
    target_layers: list[str] = field(default_factory=list)
    method: str = "gradcam"
    attributions: np.ndarray | None = None
    display: str | None = None
    completeness_gap: np.ndarray | None = None
    image_index: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.heatmaps.shape[0])

    def take(self, rows) -> Explanation:
        """The explanation of some rows only, e.g. of one finding.

        Args:
            rows: Row indices or a boolean mask over the rows.

        Returns:
            A new `Explanation` holding those rows (`image_index` kept, or made from the
            rows where the rows were the images).

        Raises:
            IndexError: For indices out of range.

        Example:
            >>> explanation = keras_cxr.GradCAM(multi_label).explain(images, "positive")
            >>> effusion = explanation.take(explanation.class_index == 4)
        """
        rows = np.arange(len(self))[rows]
        image_index = rows if self.image_index is None else self.image_index[rows]

        def pick(value):
            return None if value is None else value[rows]

        return dataclasses.replace(
            self,
            heatmaps=self.heatmaps[rows],
            layer_heatmaps={path: maps[rows] for path, maps in self.layer_heatmaps.items()},
            scores=self.scores[rows],
            class_index=self.class_index[rows],
            predictions=self.predictions[rows],
            attributions=pick(self.attributions),
            completeness_gap=pick(self.completeness_gap),
            image_index=image_index.astype(np.int64),
        )

    @property
    def probabilities(self) -> np.ndarray:
        """Probability of the explained class per image, float32 `(batch,)`.

        For a single sigmoid unit, class 0's probability is 1 − the output.

        Args:
            None: a property.

        Returns:
            float32 `(batch,)`.

        Raises:
            Nothing: it reads the stored arrays.

        Example:
            >>> explanation = keras_cxr.GradCAM(model).explain(images, class_index=1)
            >>> explanation.probabilities  # p(positive) per image
        """
        if self.predictions.shape[-1] == 1:
            positive = self.predictions[:, 0]
            return np.where(self.class_index == 1, positive, 1.0 - positive).astype(np.float32)
        return self.predictions[np.arange(len(self)), self.class_index].astype(np.float32)

    def overlay(
        self, images, alpha: float = 0.4, colormap: str = "jet", layer: str | None = None
    ) -> np.ndarray:
        """Blend the heatmaps onto the original images.

        Args:
            images: The images that were explained, as given (raw pixels); with
                `image_index`, each row is drawn on its image.
            alpha: Heatmap weight in [0, 1]. Defaults to 0.4.
            colormap: OpenCV colormap name. Defaults to `"jet"` (red = high importance).
            layer: A target-layer path to show that layer's map instead of the fused one.

        Returns:
            uint8 RGB `(batch, height, width, 3)`.

        Raises:
            KeyError: If `layer` is not one of `target_layers`.

        Example:
            >>> rgb = keras_cxr.GradCAM(model).explain(images).overlay(images, alpha=0.5)
        """
        maps = self.heatmaps if layer is None else self.layer_heatmaps[layer]
        return _overlay(self._row_images(images), maps, alpha=alpha, colormap=colormap)

    def plot(self, images, labels=None, alpha: float = 0.4, colormap: str = "jet"):
        """A figure with one row per image: the image, each layer's overlay, the fused one.

        Args:
            images: The explained images.
            labels: Optional true labels, shown with the predicted probability.
            alpha: Heatmap weight. Defaults to 0.4.
            colormap: OpenCV colormap name. Defaults to `"jet"`.

        Returns:
            A `matplotlib.figure.Figure`.

        Raises:
            ValueError: If the images do not match the heatmaps, or for a bad `alpha` or
                `colormap` (from `keras_cxr.viz.plot_grid`).

        Example:
            >>> figure = keras_cxr.GradCAM(model).explain(images).plot(images, labels=[0, 1])
            >>> figure.savefig("gradcam.png")
        """
        columns = {}
        if len(self.layer_heatmaps) > 1:
            columns.update({_short(p): m for p, m in self.layer_heatmaps.items()})
        columns["fused" if len(self.layer_heatmaps) > 1 else self.method] = self.heatmaps
        titles = []
        for i in range(len(self)):
            text = f"class {self.class_index[i]} p={self.probabilities[i]:.2f}"
            image = i if self.image_index is None else int(self.image_index[i])
            titles.append(text if labels is None else f"label {labels[image]} | {text}")
        rows = self._row_images(images)
        return plot_grid(rows, columns, titles=titles, alpha=alpha, colormap=colormap)

    def _row_images(self, images):
        """The explained images as rows (each image once per explained class)."""
        return images if self.image_index is None else np.asarray(images)[self.image_index]


def _short(path: str) -> str:
    parts = path.split("/")
    return "/".join(parts[-2:])
