"""Drawing several findings into one phantom; the public API is in `multilabel.py`.

Each finding is drawn on the anatomy of `_render.py`, into the image in place, and returns
its own mask. Findings are drawn in a fixed order (the heart first, since it pushes the
lungs aside; the focal ones last) and each later one keeps clear of the earlier ones, so
two findings of one image lie in different places, as the leakage metric needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from keras_cxr.data.synthetic._render import (
    Grid,
    _anatomy,
    _consolidation,
    _ellipse,
    _smoothstep,
    finish,
)

#: The findings a multi-label phantom can show, in label order.
FINDINGS = ("consolidation", "effusion", "cardiomegaly", "nodule", "pneumothorax")
#: Their names in ChestX-ray14's `Finding Labels`.
CHESTXRAY14_NAMES = {
    "consolidation": "Consolidation",
    "effusion": "Effusion",
    "cardiomegaly": "Cardiomegaly",
    "nodule": "Nodule",
    "pneumothorax": "Pneumothorax",
}
_DRAW_ORDER = ("cardiomegaly", "effusion", "pneumothorax", "consolidation", "nodule")


def render_findings(
    rng: np.random.Generator, grid: Grid, present: Sequence[str], size: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Renders one radiograph with the findings `present`; returns `(image, lungs, masks)`.

    `masks` maps each present finding to its `size × size` mask.
    """
    image, lungs, side = _anatomy(rng, grid)
    free = lungs.copy()
    drawn: dict[str, np.ndarray] = {}
    gap = np.ones((2 * max(1, round(0.02 * grid.size)) + 1,) * 2, np.uint8)
    for name in _DRAW_ORDER:
        if name not in present:
            continue
        mask = _DRAW[name](rng, grid, image, lungs, free, side)
        drawn[name] = mask
        free &= lungs & ~(cv2.dilate(mask.astype(np.uint8), gap) > 0)
    image, masks = finish(rng, grid.size, size, image, [lungs, *drawn.values()])
    return image, masks[0], dict(zip(drawn, masks[1:]))


def _cardiomegaly(rng, grid, image, lungs, free, side) -> np.ndarray:
    """A heart wider than half the chest (cardiothoracic ratio > 0.5), over the lungs."""
    del free, side
    rows = np.flatnonzero(lungs.any(axis=1))
    base = (rows.max() + 0.5) / grid.size if rows.size else 0.75
    heart = _ellipse(
        grid,
        centre=(0.5 + rng.uniform(0.05, 0.08), base - rng.uniform(0.11, 0.14)),
        axes=(rng.uniform(0.22, 0.26), rng.uniform(0.14, 0.17)),
        degrees=rng.uniform(-25, -10),
    )
    heart &= grid.y < base + 0.03
    np.maximum(image, rng.uniform(0.6, 0.7), out=image, where=heart)
    lungs &= ~heart
    return heart


def _effusion(rng, grid, image, lungs, free, side) -> np.ndarray:
    """Fluid at the base of one lung, its surface rising towards the chest wall (meniscus)."""
    lung = _one_side(rng, lungs, side)
    rows = np.flatnonzero(lung.any(axis=1))
    top, bottom = (rows.min() + 0.5) / grid.size, (rows.max() + 0.5) / grid.size
    level = bottom - rng.uniform(0.25, 0.4) * (bottom - top)
    across = np.abs(grid.x - 0.5)
    surface = level - rng.uniform(0.04, 0.08) * np.clip((across - 0.1) / 0.25, 0, 1)
    fluid = lung & free & (grid.y > surface)
    soft = cv2.GaussianBlur(fluid.astype(np.float32), (0, 0), 0.01 * grid.size + 0.3)
    np.maximum(image, image + soft * (rng.uniform(0.58, 0.68) - image), out=image)
    return fluid


def _pneumothorax(rng, grid, image, lungs, free, side) -> np.ndarray:
    """Air between the collapsed lung and the upper chest wall: dark, no vessels, a pleural line."""
    lung = _one_side(rng, lungs, side)
    rows = np.flatnonzero(lung.any(axis=1))
    top, bottom = (rows.min() + 0.5) / grid.size, (rows.max() + 0.5) / grid.size
    across = np.broadcast_to(np.abs(grid.x - 0.5), lung.shape)
    outer = np.where(lung, across, 0).max(axis=1, keepdims=True)
    lowest = top + rng.uniform(0.45, 0.65) * (bottom - top)
    width = rng.uniform(0.06, 0.1) * np.clip((lowest - grid.y) / 0.12, 0, 1)
    air = lung & free & (across > outer - width) & (grid.y < lowest)
    image[air] = rng.uniform(0.04, 0.1) + 0.02 * image[air]
    edge = (cv2.dilate(air.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & lung & ~air
    image[edge] += rng.uniform(0.12, 0.2)
    return air


def _consolidation_finding(rng, grid, image, lungs, free, side) -> np.ndarray:
    del lungs
    opacity, mask = _consolidation(rng, grid, free, side)
    image += opacity
    return mask


def _nodule(rng, grid, image, lungs, free, side) -> np.ndarray:
    """One round, well-defined opacity a few millimetres to 3 cm across, inside a lung."""
    del side
    margin = max(1, round(0.05 * grid.size))
    core = cv2.erode(free.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
    candidates = np.flatnonzero(core if core.any() else (free if free.any() else lungs))
    cy, cx = divmod(int(candidates[rng.integers(candidates.size)]), grid.size)
    radius = rng.uniform(0.03, 0.045)
    distance = np.hypot(grid.x - (cx + 0.5) / grid.size, grid.y - (cy + 0.5) / grid.size) / radius
    image += rng.uniform(0.3, 0.42) * (1 - _smoothstep(distance, 0.75, 1.15))
    return (distance <= 1) & lungs  # clipped where a crowded lung left no room


def _one_side(rng, lungs, side) -> np.ndarray:
    """The lung of a random side, or both when that side has none left."""
    lung = lungs & (side == rng.choice((-1, 1)))
    return lung if lung.any() else lungs


_DRAW = {
    "cardiomegaly": _cardiomegaly,
    "effusion": _effusion,
    "pneumothorax": _pneumothorax,
    "consolidation": _consolidation_finding,
    "nodule": _nodule,
}
