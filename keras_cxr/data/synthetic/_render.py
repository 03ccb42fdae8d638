"""Drawing one synthetic frontal chest radiograph; the public API is in `phantoms.py`.

All geometry is in image-relative units (0..1, x to the right, y down), so any image size
renders the same anatomy. Intensities are in [0, 1] with air dark and bone bright, as on a
radiograph. The patient faces the viewer, so the heart sits on the image's right.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_MARKER_TEXTS = ("L", "R", "AP", "PA", "PORT", "SUPINE")


@dataclass(frozen=True)
class Grid:
    """Pixel-centre coordinates of an `size × size` image, in image-relative units."""

    size: int
    x: np.ndarray
    y: np.ndarray

    @classmethod
    def of(cls, size: int) -> Grid:
        axis = (np.arange(size, dtype=np.float32) + 0.5) / size
        return cls(size, axis[np.newaxis, :], axis[:, np.newaxis])


#: The opacity patterns a pneumonia phantom can have: focal consolidation (as in bacterial
#: pneumonia) or a diffuse bilateral interstitial pattern (as in viral pneumonia).
PATTERNS = ("consolidation", "interstitial")


def render(
    rng: np.random.Generator,
    grid: Grid,
    positive: bool,
    size: int,
    pattern: str = "consolidation",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Renders one `size × size` radiograph; returns `(image in [0, 1], lungs, lesions)`.

    The anatomy is drawn on `grid`, which may be coarser than `size` (it is smooth, so
    drawing it at up to 160 pixels and resizing saves most of the time); the noise is
    added at full size, so the picture keeps its grain. A positive phantom gets the
    opacity `pattern`, one of `PATTERNS`.
    """
    image, lungs, lung_side = _anatomy(rng, grid)
    lesion = np.zeros(lungs.shape, dtype=bool)
    if positive:
        draw = _consolidation if pattern == "consolidation" else _interstitial
        opacity, lesion = draw(rng, grid, lungs, lung_side)
        image += opacity
    image, (lungs, lesion) = finish(rng, grid.size, size, image, [lungs, lesion])
    return image, lungs, lesion


def finish(
    rng: np.random.Generator,
    drawing_size: int,
    size: int,
    image: np.ndarray,
    masks: list[np.ndarray],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Blur, position, exposure, resizing to `size` and noise; the masks follow the image.

    Returns `(image in [0, 1], masks)`, all `size × size`.
    """
    sigma = 0.004 * drawing_size
    image = cv2.GaussianBlur(image, (0, 0), sigma) if sigma >= 0.5 else image
    image, masks = _position(rng, drawing_size, image, masks)
    image = _expose(rng, image)
    if size != drawing_size:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
        masks = [_resize_mask(mask, size) for mask in masks]
    # Quantum noise is per pixel, so it is added at full size.
    image += rng.uniform(0.008, 0.03) * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(image, 0, 1), masks


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    resized = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    return resized > 0.5


def burn_marker(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Burns a bright tag with dark lettering into a top corner; returns its mask."""
    size = image.shape[0]
    height = max(3, round(size * rng.uniform(0.07, 0.1)))
    width = max(4, round(size * rng.uniform(0.16, 0.24)))
    margin = round(size * rng.uniform(0.02, 0.05))
    left = margin if rng.random() < 0.5 else size - margin - width
    top = margin
    mask = np.zeros(image.shape, dtype=bool)
    mask[top : top + height, left : left + width] = True
    image[mask] = rng.uniform(0.9, 1.0)
    text = str(rng.choice(_MARKER_TEXTS))
    scale = height / 30.0
    (text_width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    scale *= min(1.0, 0.85 * width / max(text_width, 1))
    origin = (left + max(1, round(0.08 * width)), top + round(0.78 * height))
    strokes = np.zeros(image.shape, dtype=np.uint8)  # OpenCV draws text on 8-bit images only
    cv2.putText(strokes, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
    ink = strokes.astype(np.float32) / 255
    image[...] = image * (1 - ink) + 0.15 * ink
    return mask


def _anatomy(rng: np.random.Generator, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body, lungs, mediastinum, heart, diaphragm, spine, ribs and clavicles."""
    # Masked in-place updates (copyto / out= / where=) keep this at a few hundred
    # microseconds per image; np.where would allocate a new image at every step.
    x, y = grid.x, grid.y
    side = np.where(x < 0.5, -1, 1).astype(np.int8)  # -1: the patient's right lung
    across = np.abs(x - 0.5)  # distance from the midline

    half_width = rng.uniform(0.41, 0.47)
    shoulders = rng.uniform(0.03, 0.07) + rng.uniform(0.18, 0.26) * (across / half_width) ** 2
    neck = across < rng.uniform(0.08, 0.1)
    body = (across < half_width * (1 - 0.3 * np.maximum(y - 0.85, 0))) & ((y > shoulders) | neck)
    image = np.full(body.shape, rng.uniform(0.02, 0.08), dtype=np.float32)  # air
    # Soft tissue is thicker towards the chest wall, so the periphery is brighter.
    tissue = rng.uniform(0.4, 0.5) + 0.1 * (across / half_width) ** 2
    np.copyto(image, np.broadcast_to(tissue, image.shape), where=body)

    apex = rng.uniform(0.12, 0.17)
    base = rng.uniform(0.7, 0.78)
    medial = rng.uniform(0.045, 0.065)
    lateral = rng.uniform(0.32, min(0.38, half_width - 0.04))
    dome = rng.uniform(0.05, 0.09)
    # The right hemidiaphragm (image left) sits a little higher, above the liver.
    base_of_side = np.where(side < 0, base - rng.uniform(0.01, 0.035), base)
    along = np.clip((across - medial) / (lateral - medial), 0, 1)
    diaphragm = base_of_side - dome * np.sin(np.pi * np.clip(0.85 * along + 0.15, 0, 1))
    height = np.clip((y - apex) / (base - apex), 0, 1)
    outer = medial + (lateral - medial) * np.sqrt(1 - (1 - height) ** 3)
    lungs = (y > apex) & (across > medial) & (across < outer) & (y < diaphragm)

    heart = _ellipse(
        grid,
        centre=(0.5 + rng.uniform(0.04, 0.07), base - rng.uniform(0.1, 0.13)),
        axes=(rng.uniform(0.15, 0.19), rng.uniform(0.1, 0.13)),
        degrees=rng.uniform(-25, -10),
    )
    mediastinum = (across < medial + 0.012 + 0.03 * height) & (y < base)
    central = heart | mediastinum
    lungs &= ~central

    # Vessels fan out from the hila, so lungs are brighter medially and fade to the edge.
    hilum = 0.12 * np.exp(-(((across - 0.09) / 0.06) ** 2)) * np.exp(-(((y - 0.43) / 0.09) ** 2))
    lung_shade = 0.07 * _smooth_noise(rng, grid.size, cells=14) + hilum
    lung_shade += rng.uniform(0.1, 0.18) + 0.06 * (1 - along)
    np.copyto(image, lung_shade, where=lungs)
    abdomen = body & ~lungs & (y >= diaphragm)
    np.maximum(image, rng.uniform(0.58, 0.68), out=image, where=abdomen)
    if rng.random() < 0.7:  # gas in the stomach under the left hemidiaphragm
        bubble = _ellipse(grid, (0.5 + rng.uniform(0.12, 0.2), base + 0.04), (0.05, 0.025), 0)
        np.subtract(image, 0.2, out=image, where=bubble & abdomen)

    np.maximum(image, rng.uniform(0.6, 0.7), out=image, where=central)
    vertebrae = 0.03 + 0.03 * np.cos(2 * np.pi * y / rng.uniform(0.04, 0.05)) ** 2
    np.add(image, vertebrae, out=image, where=body & (across < 0.03))  # spine
    trachea = (across < 0.012) & (y > 0.02) & (y < apex + 0.17)
    np.subtract(image, 0.1, out=image, where=trachea)

    chest = body & (y > apex - 0.05) & (y < diaphragm + 0.03) & (across > 0.025)
    chest &= across < outer + 0.035
    spacing = rng.uniform(0.06, 0.07)
    # Posterior ribs leave the spine level and curve down towards the chest wall; the
    # fainter anterior ribs run down towards the sternum.
    posterior = _fraction((y + 0.1 * across - 1.7 * across**2) / spacing + rng.random())
    anterior = _fraction((y + 0.55 * across) / (1.4 * spacing) + rng.random())
    ribs = rng.uniform(0.06, 0.11) * _bump(posterior, 0.12) + 0.03 * _bump(anterior, 0.1)
    np.multiply(ribs, 0.4, out=ribs, where=central)
    np.add(image, ribs, out=image, where=chest)
    clavicle_y = apex + 0.02 + 0.35 * (across - 0.05) - 1.1 * (across - 0.05) ** 2
    clavicle = (np.abs(y - clavicle_y) < 0.013) & (across > 0.035) & (across < 0.3)
    np.add(image, 0.12, out=image, where=clavicle & body)
    return image, lungs, np.broadcast_to(side, lungs.shape)


def _fraction(values: np.ndarray) -> np.ndarray:
    return values - np.floor(values)


def _ellipse(grid: Grid, centre, axes, degrees: float) -> np.ndarray:
    """Boolean mask of a rotated ellipse (image-relative centre and semi-axes)."""
    angle = np.deg2rad(degrees)
    du, dv = grid.x - centre[0], grid.y - centre[1]
    u = du * np.cos(angle) + dv * np.sin(angle)
    v = -du * np.sin(angle) + dv * np.cos(angle)
    return (u / axes[0]) ** 2 + (v / axes[1]) ** 2 <= 1


def _consolidation(
    rng: np.random.Generator, grid: Grid, lungs: np.ndarray, side: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Patchy opacities inside the lungs: 1 to 4 blobs of varied size, shape and density."""
    texture = _smooth_noise(rng, grid.size, cells=16)
    strength = np.zeros(lungs.shape, dtype=np.float32)
    coverage = np.zeros(lungs.shape, dtype=np.float32)
    # Centres keep clear of the lung border, so most of each opacity lies in the lung.
    margin = max(1, round(0.04 * grid.size))
    core = cv2.erode(lungs.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
    core = core if core.any() else lungs
    candidates = np.flatnonzero(core)
    if rng.random() < 0.7:  # most pneumonias are unilateral
        one_side = np.flatnonzero(core & (side == rng.choice((-1, 1))))
        candidates = one_side if one_side.size else candidates
    for _ in range(rng.choice((1, 2, 3, 4), p=(0.35, 0.35, 0.2, 0.1))):
        centre = candidates[rng.integers(candidates.size)]
        cy, cx = divmod(int(centre), grid.size)
        radius = rng.uniform(0.055, 0.12)
        stretch = rng.uniform(0.6, 1.5)
        angle = rng.uniform(0, np.pi)
        # The patch is 0 where exp(-r²/2) * 1.4 < 0.35, i.e. beyond r = 1.67; draw only
        # the window that can be non-zero.
        reach = int(np.ceil(1.7 * radius * max(stretch, 1.0) * grid.size)) + 1
        rows = slice(max(cy - reach, 0), cy + reach + 1)
        cols = slice(max(cx - reach, 0), cx + reach + 1)
        du = grid.x[:, cols] - (cx + 0.5) / grid.size
        dv = grid.y[rows] - (cy + 0.5) / grid.size
        u = (du * np.cos(angle) + dv * np.sin(angle)) / (radius * stretch)
        v = (-du * np.sin(angle) + dv * np.cos(angle)) / radius
        blob = np.exp(-0.5 * (u**2 + v**2)) * (0.6 + 0.8 * texture[rows, cols])
        patch = _smoothstep(blob, 0.35, 0.75)
        coverage[rows, cols] = np.maximum(coverage[rows, cols], patch)
        density = rng.uniform(0.25, 0.5)
        strength[rows, cols] = np.maximum(strength[rows, cols], density * patch)
    inside = cv2.GaussianBlur(lungs.astype(np.float32), (0, 0), 0.006 * grid.size + 0.3)
    return strength * inside, (coverage > 0.5) & lungs


def _interstitial(
    rng: np.random.Generator, grid: Grid, lungs: np.ndarray, side: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A diffuse reticular pattern over both lungs, densest near the hila and the bases.

    Viral pneumonia in children is mostly bilateral, perihilar and interstitial: a fine
    net of lines and a faint haze rather than one dense lobe. The net is the set of
    contour lines of a smooth random field; the haze covers both lungs.
    """
    del side  # both lungs, by definition
    field = _smooth_noise(rng, grid.size, cells=int(rng.integers(9, 14)))
    lines = _bump(_fraction(3 * field), rng.uniform(0.12, 0.2))
    hilum_x = np.where(grid.x < 0.5, 0.36, 0.64)
    # Closer to the hila (mid-height, next to the mediastinum) and lower is denser.
    spread = np.exp(-(((grid.x - hilum_x) / 0.22) ** 2) - ((grid.y - 0.55) / 0.3) ** 2)
    envelope = np.clip(0.45 + 0.55 * spread + 0.3 * (grid.y - 0.5), 0, 1)
    strength = envelope * (rng.uniform(0.1, 0.16) * lines + rng.uniform(0.06, 0.11))
    inside = cv2.GaussianBlur(lungs.astype(np.float32), (0, 0), 0.006 * grid.size + 0.3)
    return (strength * inside).astype(np.float32), lungs & (envelope > 0.6)


def _position(rng, size, image, masks):
    """Tilts, shifts and scales the patient slightly, as positioning varies."""
    matrix = cv2.getRotationMatrix2D(
        (size / 2, size / 2), rng.uniform(-4, 4), rng.uniform(0.94, 1.06)
    )
    matrix[:, 2] += rng.uniform(-0.04, 0.04, size=2) * size
    border = float(image[0, 0])
    warp = dict(dsize=(size, size), borderMode=cv2.BORDER_CONSTANT)
    image = cv2.warpAffine(image, matrix, flags=cv2.INTER_LINEAR, borderValue=border, **warp)
    moved = []
    for start in range(0, len(masks), 4):  # OpenCV warps at most 4 channels at a time
        stack = np.stack(masks[start : start + 4], axis=-1).astype(np.uint8)
        stack = cv2.warpAffine(stack, matrix, flags=cv2.INTER_NEAREST, borderValue=0, **warp)
        moved += list(stack.reshape(size, size, -1).astype(bool).transpose(2, 0, 1))
    return image, moved


def _expose(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Exposure (gamma, gain, offset) and an uneven detector response."""
    image = np.clip(image, 0, 1) ** rng.uniform(0.8, 1.25)
    image = image * rng.uniform(0.88, 1.1) + rng.uniform(-0.04, 0.04)
    return image + 0.03 * (_smooth_noise(rng, image.shape[0], cells=3) - 0.5)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1] whose blobs are about `size / cells` pixels wide."""
    coarse = rng.random((cells + 1, cells + 1), dtype=np.float32)
    return np.clip(cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC), 0, 1)


def _bump(phase: np.ndarray, width: float) -> np.ndarray:
    return np.exp(-(((phase - 0.5) / width) ** 2))


def _smoothstep(values: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((values - low) / (high - low), 0, 1)
    return t * t * (3 - 2 * t)
