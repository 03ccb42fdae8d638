"""Synthetic chest radiographs with several findings each, and a mask per finding."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data.synthetic._findings import FINDINGS, render_findings
from keras_cxr.data.synthetic._render import Grid
from keras_cxr.data.synthetic.phantoms import _MAX_DRAWING_SIZE, check_counts


@dataclass(frozen=True)
class MultiLabelPhantoms:
    """Multi-finding phantoms and their ground truth, as made by `make_multilabel_phantoms`.

    Attributes:
        images: uint8 `(n, S, S, 3)`, three identical channels.
        labels: int64 `(n, K)`, 1 where the image shows the finding.
        masks: bool `(n, K, S, S)`, each finding's region; all False where it is absent.
        lung_masks: bool `(n, S, S)`, the visible lung fields.
        findings: The `K` finding names, in label order.

    Example:
        >>> phantoms = keras_cxr.data.synthetic.make_multilabel_phantoms(8, image_size=64)
        >>> bool(phantoms.masks[phantoms.labels == 0].any())
        False
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    lung_masks: np.ndarray
    findings: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def make_multilabel_phantoms(
    n: int,
    image_size: int = 96,
    findings: Sequence[str] = FINDINGS,
    prevalence: float | Sequence[float] = 0.3,
    seed: int = 0,
) -> MultiLabelPhantoms:
    """Makes synthetic radiographs that show any subset of several findings.

    Each image shows each finding independently with its `prevalence`, so some images are
    normal and many have two or more findings. The anatomy is that of
    `keras_cxr.data.synthetic.make_phantoms`; the findings are drawn on it:

    - consolidation: patchy opacities inside one or both lungs (the pneumonia phantom's);
    - effusion: fluid filling the base of one lung, its surface curving up laterally;
    - cardiomegaly: a heart wider than half the chest, covering the medial lungs;
    - nodule: one round, sharp opacity inside a lung;
    - pneumothorax: a dark band without lung markings along the upper chest wall of one
      side, edged by a bright pleural line.

    Each later finding keeps clear of the earlier ones, so two findings of one image lie
    in different places. The same `seed` gives the same phantoms, image by image.

    Args:
        n: Number of images, >= 1.
        image_size: Side `S` of the square images, >= 32. Defaults to 96.
        findings: The findings to draw, a subset of
            `keras_cxr.data.synthetic.MULTILABEL_FINDINGS`, in the label order wanted.
            Defaults to all five.
        prevalence: Share of images showing each finding: one float for all, or one per
            finding, each in [0, 1]. Defaults to 0.3.
        seed: Random seed. Defaults to 0.

    Returns:
        A `keras_cxr.data.synthetic.MultiLabelPhantoms`.

    Raises:
        ValueError: An argument is out of range or names an unknown finding.

    Example:
        >>> phantoms = keras_cxr.data.synthetic.make_multilabel_phantoms(
        ...     16, image_size=64, findings=("nodule", "effusion"), prevalence=0.5)
        >>> phantoms.labels.shape, phantoms.masks.shape
        ((16, 2), (16, 2, 64, 64))
    """
    check_counts(n, image_size)
    findings = tuple(findings) if not isinstance(findings, str) else (findings,)
    unknown = [name for name in findings if name not in FINDINGS]
    if unknown or not findings or len(set(findings)) != len(findings):
        raise invalid_value("findings", f"distinct names among {FINDINGS}", findings)
    rates = np.broadcast_to(np.asarray(prevalence, dtype=np.float64), (len(findings),))
    if np.ndim(prevalence) > 1 or not np.all((rates >= 0) & (rates <= 1)):
        raise invalid_value("prevalence", "a float in [0, 1], or one per finding", prevalence)
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, len(findings))) < rates).astype(np.int64)
    size = int(image_size)
    grid = Grid.of(min(size, _MAX_DRAWING_SIZE))
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, len(findings), size, size), dtype=bool)
    lungs = np.empty((n, size, size), dtype=bool)

    def draw(i: int) -> None:
        present = [name for name, label in zip(findings, labels[i]) if label]
        image, lungs[i], drawn = render_findings(
            np.random.default_rng([seed, i]), grid, present, size
        )
        for k, name in enumerate(findings):
            if name in drawn:
                masks[i, k] = drawn[name]
        images[i] = np.rint(image * 255)[..., np.newaxis]

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(draw, range(n)))
    return MultiLabelPhantoms(images, labels, masks, lungs, findings)
