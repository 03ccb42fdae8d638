"""The answers `explain_folder` must give, computed image by image without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_cxr.data import MIN_IMAGE_SIDE, read_image
from keras_cxr.explain import heatmap_statistics

#: Stored heatmaps are rounded to steps of 1/255 (uint8).
HEATMAP_TOLERANCE = 0.5 / 255 + 1e-6
#: Two stored copies of one map: a value on a rounding edge may land one step apart.
STORED_TOLERANCE = 1 / 255 + 1e-6


def image_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.suffix in (".jpeg", ".png"))


def reference(explainer, paths: list[Path]) -> tuple[np.ndarray, dict]:
    """`(images, outputs)`: each file read as training does, explained in one batch."""
    images = np.stack(
        [read_image(path, "rgb", explainer.image_size, MIN_IMAGE_SIDE) for path in paths]
    )
    return images, explainer({"image": images})


def reference_statistics(explainer, outputs: dict) -> dict:
    named = {"fused": outputs["heatmap"]}
    named.update({b: outputs[f"heatmap/{b}"] for b in explainer.branches})
    return heatmap_statistics(named)
