"""Synthetic chest radiographs with known lesion, lung and shortcut-marker masks."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data.synthetic._render import PATTERNS, Grid, burn_marker, render

# The anatomy is smooth: it is drawn at up to this size and resized, noise is added after.
_MAX_DRAWING_SIZE = 160

MARKER_RATE_POSITIVE = 0.95
"""Share of pneumonia phantoms that carry the shortcut marker when `shortcut=True`."""
MARKER_RATE_NEGATIVE = 0.05
"""Share of normal phantoms that carry the shortcut marker when `shortcut=True`."""


@dataclass(frozen=True)
class Phantoms:
    """Synthetic chest radiographs and their ground truth, as made by `make_phantoms`.

    Attributes:
        images: uint8 array `(n, S, S, 3)`; the three channels are identical, so the images
            feed ImageNet backbones as they are and `images[..., :1]` is the gray image.
        labels: int64 array `(n,)`, 1 for pneumonia and 0 for normal; with
            `three_class=True`, 0 normal, 1 bacterial (consolidation) and 2 viral
            (interstitial).
        lesion_masks: bool array `(n, S, S)`, True on the opacities; all False for normals.
        lung_masks: bool array `(n, S, S)`, True inside the lung fields (the heart excluded).
        marker_masks: bool array `(n, S, S)`, True on the burned-in marker, when made with
            `shortcut=True`; None otherwise.

    Example:
        >>> phantoms = keras_cxr.data.synthetic.make_phantoms(8, image_size=64)
        >>> bool(phantoms.lesion_masks[phantoms.labels == 0].any())
        False
    """

    images: np.ndarray
    labels: np.ndarray
    lesion_masks: np.ndarray
    lung_masks: np.ndarray
    marker_masks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)


def make_phantoms(
    n: int,
    image_size: int = 224,
    prevalence: float = 0.5,
    seed: int = 0,
    shortcut: bool = False,
    marker_rates: tuple[float, float] = (MARKER_RATE_POSITIVE, MARKER_RATE_NEGATIVE),
    three_class: bool = False,
) -> Phantoms:
    """Makes synthetic frontal chest radiographs, half of them (by default) with pneumonia.

    Each phantom has dark lung fields under a body of soft tissue, a bright mediastinum and
    spine with a trachea, the heart on the image's right (the patient's left), a domed
    diaphragm over a bright abdomen, posterior and anterior ribs, and clavicles; anatomy,
    exposure, noise and the patient's position (a few degrees of tilt, shift and scale)
    vary from image to image. A pneumonia phantom adds 1 to 4 patchy consolidations, of
    random size, shape, texture and density, inside one or both lungs and clipped to them;
    `lesion_masks` marks them, so explanation maps can be scored against the truth.

    With `shortcut=True`, a bright tag with dark lettering (like a hospital's burned-in
    "PORT" label) is stamped into a top corner of 95% of the pneumonia images and 5% of the
    normal ones (`marker_rates`), a spurious cue that a model can learn instead of the
    lungs; explanation methods should expose it. The marker is drawn over the finished
    image, so with the same seed the phantoms are identical pixel for pixel whatever
    `shortcut` and `marker_rates` are, except where a marker is stamped: every marked
    image has an unmarked twin, and `marker_rates=(1.0, 1.0)` marks every image (to ask
    a model what the marker alone does to its prediction).

    With `three_class=True`, a third of the pneumonia phantoms (rounded, at random) are
    viral (label 2): a faint net of interstitial lines and a haze over both lungs,
    densest near the hila and the bases, instead of focal consolidation; the other
    pneumonia phantoms are bacterial (label 1), drawn as above. The normal and bacterial
    phantoms are the same as with `three_class=False`.

    Exactly `round(n * prevalence)` phantoms are positive, in random order. The same `seed`
    gives the same phantoms, image by image. Rendering is vectorized per image with NumPy
    and OpenCV and spread over threads; the smooth anatomy is drawn at up to 160 × 160 and
    resized, then the quantum noise is added at full size. It costs about 6 ms of CPU per
    224 × 224 image and 2 ms per 64 × 64 image.

    Args:
        n: Number of images, >= 1.
        image_size: Side `S` of the square images, >= 32. Defaults to 224.
        prevalence: Share of pneumonia images, in [0, 1]. Defaults to 0.5.
        seed: Random seed. Defaults to 0.
        shortcut: Add the label-correlated marker. Defaults to False.
        marker_rates: `(positive, negative)`: the share of pneumonia and of normal images
            that carry the marker when `shortcut=True`, each in [0, 1]. Defaults to
            `(MARKER_RATE_POSITIVE, MARKER_RATE_NEGATIVE)`, i.e. `(0.95, 0.05)`.
        three_class: Split pneumonia into bacterial (1) and viral (2) phantoms. Defaults
            to False.

    Returns:
        A `keras_cxr.data.synthetic.Phantoms` with `images`, `labels`, `lesion_masks`,
        `lung_masks` and (with `shortcut=True`) `marker_masks`.

    Raises:
        ValueError: an argument is out of range.

    Example:
        >>> phantoms = keras_cxr.data.synthetic.make_phantoms(100, image_size=128, seed=0)
        >>> phantoms.images.shape, int(phantoms.labels.sum())
        ((100, 128, 128, 3), 50)
    """
    check_counts(n, image_size)
    if not 0 <= prevalence <= 1:
        raise invalid_value("prevalence", "a float in [0, 1]", prevalence)
    rates = _check_marker_rates(marker_rates)
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, dtype=np.int64)
    labels[: round(n * prevalence)] = 1
    labels = rng.permutation(labels)
    marked = rng.random(n) < np.where(labels == 1, *rates)
    if three_class:
        positives = np.flatnonzero(labels == 1)
        labels[rng.choice(positives, round(len(positives) / 3), replace=False)] = 2
    size = int(image_size)
    grid = Grid.of(min(size, _MAX_DRAWING_SIZE))
    shape = (n, size, size)
    images = np.empty((*shape, 3), dtype=np.uint8)
    lungs = np.empty(shape, dtype=bool)
    lesions = np.empty(shape, dtype=bool)
    markers = np.zeros(shape, dtype=bool) if shortcut else None

    def draw(i: int) -> None:
        # One generator per image keeps each phantom the same whatever the thread order.
        image_rng = np.random.default_rng([seed, i])
        pattern = PATTERNS[1] if labels[i] == 2 else PATTERNS[0]
        image, lungs[i], lesions[i] = render(image_rng, grid, bool(labels[i]), size, pattern)
        if markers is not None and marked[i]:
            markers[i] = burn_marker(image_rng, image)
        images[i] = np.rint(image * 255)[..., np.newaxis]

    # NumPy and OpenCV release the GIL, so threads render images side by side.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(draw, range(n)))
    return Phantoms(images, labels, lesions, lungs, markers)


def check_counts(n, image_size) -> None:
    """Raise unless `n >= 1` and `image_size >= 32` are ints (shared by the phantom makers)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise invalid_value("n", "an int >= 1", n)
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)):
        raise invalid_value("image_size", "an int >= 32", image_size)
    if image_size < 32:
        raise invalid_value("image_size", "an int >= 32", image_size)


def _check_marker_rates(marker_rates) -> tuple[float, float]:
    expected = "a pair (positive, negative) of floats in [0, 1]"
    try:
        positive, negative = (float(rate) for rate in marker_rates)
    except (TypeError, ValueError):
        raise invalid_value("marker_rates", expected, marker_rates) from None
    if not (0 <= positive <= 1 and 0 <= negative <= 1):
        raise invalid_value("marker_rates", expected, marker_rates)
    return positive, negative
