"""Occlusion: how much the score drops when a patch of the image is covered."""

from __future__ import annotations

import numbers

import keras
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.explain.base_attribution import BaseAttribution, to_numpy
from keras_cxr.explain.other_inputs import take_rows


class Occlusion(BaseAttribution):
    """Occlusion: slide a patch of constant value over the image and record the score drop.

    For every position of a `patch` moved by `stride` (all channels covered at once),
    the occluded image is scored; the attribution of a pixel is the mean, over the patches
    covering it, of `s(x) − s(x occluded)`: positive where hiding the pixel lowers the
    explained score. The last row and column of positions is moved flush with the bottom
    and right edges, so that every pixel is covered whatever the stride. Gradient-free:
    it treats the model as a black box.

    Cost: one forward pass per patch position and image, `internal_batch_size` occluded
    images per compiled call: `⌈(H − p) / s + 1⌉ · ⌈(W − p) / s + 1⌉` passes per image
    (729 for a 16-pixel patch at stride 8 on a 224-pixel image).

    Args:
        model: The Keras model to explain (of the image, and of other inputs given as
            `inputs=`, see `keras_cxr.explain.BaseCAM`).
        patch: Side of the square patch, or `(height, width)`. Defaults to 16.
        stride: Step between positions, or `(rows, columns)`, no larger than the patch.
            Defaults to half the patch.
        baseline: Value the patch is filled with, in the model's input scale. Defaults to
            0 (black for models that take raw pixels).
        internal_batch_size: Occluded images per compiled call. Defaults to 64.
        display: `"positive"` (default) or `"abs"`.
        output, score, batch_size: As for `keras_cxr.explain.BaseAttribution`.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        whose `attributions` are mean score drops, in score units.

    Raises:
        ValueError: For a patch or stride that is not a positive integer (or pair), a
            stride larger than the patch (the pixels between two positions would have no
            attribution; captum's `Occlusion` returns NaN for them), a non-finite
            `baseline`, as `keras_cxr.explain.BaseAttribution`, and, from
            `explain`, a patch larger than the images.

    Example:
        >>> explainer = keras_cxr.explain.Occlusion(model, patch=16, stride=8)
        >>> explanation = explainer.explain(images, class_index=1)

    Reference:
        Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks",
        ECCV 2014.
    """

    method_name = "occlusion"

    def __init__(
        self,
        model: keras.Model,
        *,
        patch: int | tuple[int, int] = 16,
        stride: int | tuple[int, int] | None = None,
        baseline: float = 0.0,
        internal_batch_size: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(model, **kwargs)
        self.patch = _pair("patch", patch)
        self.stride = (
            tuple(max(1, side // 2) for side in self.patch)
            if stride is None
            else _pair("stride", stride)
        )
        if self.stride[0] > self.patch[0] or self.stride[1] > self.patch[1]:
            # Pixels between two positions would never be covered: no score drop to
            # average (captum's Occlusion averages alike and divides 0 by 0 there).
            raise invalid_value(
                "stride",
                f"a stride no larger than the patch {self.patch}, so that every pixel is "
                "covered by some patch position",
                stride,
            )
        if (
            isinstance(baseline, bool)
            or not isinstance(baseline, numbers.Real)
            or not np.isfinite(baseline)
        ):
            raise invalid_value("baseline", "a finite number", baseline)
        self.baseline = float(baseline)
        self.internal_batch_size = check_int("internal_batch_size", internal_batch_size)

    def _check_fits(self, images: np.ndarray) -> None:
        size = tuple(images.shape[1:3])
        if self.patch[0] > size[0] or self.patch[1] > size[1]:
            raise invalid_value(
                "patch", f"a patch no larger than the images ({size[0]}×{size[1]})", self.patch
            )

    def _explain_chunk(self, images: np.ndarray, classes: np.ndarray, others: tuple = ()) -> dict:
        clean = self._compiled_for(self._predict, images, others)(images, classes, *others)
        classes = to_numpy(clean["classes"]).astype(np.int32)
        scores = self._compiled_for(self._scores, images, others)
        unoccluded = to_numpy(scores(images, classes, *others)).astype(np.float64)
        windows = patch_windows(images.shape[1:3], self.patch, self.stride)
        drops = np.zeros(images.shape[:3], np.float64)
        pairs = len(images) * len(windows)
        for start in range(0, pairs, self.internal_batch_size):
            index = np.arange(start, min(start + self.internal_batch_size, pairs))
            image, window = np.divmod(index, len(windows))
            occluded = images[image].copy()
            for row, (rows, cols) in enumerate(windows[w] for w in window):
                occluded[row, rows, cols, :] = self.baseline
            occluded_scores = scores(occluded, classes[image], *take_rows(others, image))
            drop = unoccluded[image] - to_numpy(occluded_scores)
            for row, w in enumerate(window):
                rows, cols = windows[w]
                drops[image[row], rows, cols] += drop[row]
        return {
            "attributions": drops / _coverage(images.shape[1:3], windows),
            "logits": to_numpy(clean["logits"]),
            "classes": classes,
        }


def patch_windows(
    size: tuple[int, int], patch: tuple[int, int], stride: tuple[int, int]
) -> list[tuple[slice, slice]]:
    """The `(rows, columns)` slices of every patch position, row by row.

    Positions start at 0 and advance by `stride`; where the last one falls short of the
    edge, one more is added flush with it, so that every pixel is covered.

    Args:
        size: `(height, width)` of the images.
        patch: `(height, width)` of the patch, no larger than `size`.
        stride: `(rows, columns)` step.

    Returns:
        A list of `(slice, slice)` pairs.

    Raises:
        Nothing of its own: `Occlusion` checks the patch against the images.

    Example:
        >>> from keras_cxr.explain.occlusion import patch_windows
        >>> [(r.start, c.start) for r, c in patch_windows((5, 4), (3, 4), (2, 2))]
        [(0, 0), (2, 0)]
    """
    starts = [_starts(length, side, step) for length, side, step in zip(size, patch, stride)]
    return [
        (slice(top, top + patch[0]), slice(left, left + patch[1]))
        for top in starts[0]
        for left in starts[1]
    ]


def _coverage(size: tuple[int, int], windows: list[tuple[slice, slice]]) -> np.ndarray:
    """How many of the windows cover each pixel, float64 `(height, width)` (all >= 1)."""
    counts = np.zeros(size, np.float64)
    for rows, cols in windows:
        counts[rows, cols] += 1
    return counts


def _starts(length: int, side: int, step: int) -> list[int]:
    starts = list(range(0, length - side + 1, step))
    if starts[-1] != length - side:
        starts.append(length - side)
    return starts


def _pair(argument: str, value) -> tuple[int, int]:
    values = value if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in values
    ):
        raise invalid_value(argument, "a positive integer or a pair of them", value)
    return int(values[0]), int(values[1])
