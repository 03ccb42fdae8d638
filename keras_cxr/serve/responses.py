"""The JSON answer of `POST /v1/explain`: prediction, decision, uncertainty, heatmap PNGs, timings.

One explained image becomes one JSON object: the probability and the decision at the
threshold, the MC-dropout spread when it was asked for, and for the fused map and each
branch's map two base64 PNGs at display size (the map blended on the image, and the
colour map alone for a viewer to blend at any opacity), plus on request the raw map at
low resolution as nested lists.
"""

from __future__ import annotations

import base64
from typing import Any

import cv2
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.viz.overlay import colorize, overlay

#: Longest side, in pixels, of the PNGs in an answer, by default.
DEFAULT_DISPLAY_SIZE = 320
#: Largest side of a raw map a request may ask for.
MAX_RAW_SIZE = 64
#: Weight of the heatmap in the blended `overlay_png`.
OVERLAY_ALPHA = 0.4
#: Which PNGs an answer holds: `"overlays"` (the image, and each map blended on it and
#: alone), `"colormaps"` (the image and each map alone, for a viewer that blends them at
#: any opacity) or `"none"` (numbers only; PNG encoding is most of an answer's cost).
IMAGES = ("overlays", "colormaps", "none")


def display_image(image: np.ndarray, display_size: int = DEFAULT_DISPLAY_SIZE) -> np.ndarray:
    """The uploaded image shrunk to at most `display_size` on its longest side, aspect kept.

    Args:
        image: uint8 RGB `(h, w, 3)`.
        display_size: The longest side. Defaults to `DEFAULT_DISPLAY_SIZE` (320).

    Returns:
        uint8 RGB `(h', w', 3)`; the image itself when it is already small enough.

    Raises:
        ValueError: For a `display_size` below 1.

    Example:
        >>> keras_cxr.serve.responses.display_image(np.zeros((1000, 500, 3), "uint8")).shape
        (320, 160, 3)
    """
    display_size = check_int("display_size", display_size)
    height, width = image.shape[:2]
    scale = display_size / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def encode_png(rgb: np.ndarray) -> str:
    """An RGB (or gray) uint8 image as a base64 PNG string.

    Args:
        rgb: uint8 `(h, w, 3)` RGB or `(h, w)` gray.

    Returns:
        The PNG file, base64-encoded (ASCII), ready for a `data:image/png;base64,` URL.

    Raises:
        ValueError: If OpenCV cannot encode the array.

    Example:
        >>> keras_cxr.serve.responses.encode_png(np.zeros((2, 2, 3), "uint8"))[:8]
        'iVBORw0K'
    """
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {rgb.shape} as PNG.")
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def raw_map(heatmap: np.ndarray, size: int) -> list[list[float]]:
    """A heatmap averaged down to at most `size` pixels on its longest side, as lists.

    Args:
        heatmap: `(H, W)` in [0, 1].
        size: The longest side, 1 to `MAX_RAW_SIZE`.

    Returns:
        Rows of values rounded to 4 decimals (area interpolation).

    Raises:
        ValueError: For a `size` outside 1 to `MAX_RAW_SIZE`.

    Example:
        >>> keras_cxr.serve.responses.raw_map(np.ones((32, 32), "float32"), 2)
        [[1.0, 1.0], [1.0, 1.0]]
    """
    size = check_int("size", size)
    if size > MAX_RAW_SIZE:
        raise ValueError(f"Raw maps are at most {MAX_RAW_SIZE} pixels a side; received {size}.")
    height, width = heatmap.shape
    scale = min(1.0, size / max(height, width))
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(np.asarray(heatmap, np.float32), shape, interpolation=cv2.INTER_AREA)
    return np.round(small.astype(np.float64), 4).tolist()


def explain_response(
    row: dict[str, Any],
    display: np.ndarray,
    info: dict[str, Any],
    raw_size: int = 0,
    images: str = "overlays",
) -> dict[str, Any]:
    """The JSON object that answers one explained upload.

    Args:
        row: One `keras_cxr.serve.ModelService.explain_batch` result.
        display: The upload at display size (`display_image`), uint8 RGB.
        info: `ModelService.model_info()` of the model.
        raw_size: Longest side of the raw maps to include; 0 (default) for none.
        images: Which PNGs to include, one of `IMAGES`. Defaults to "overlays".

    Returns:
        A JSON-ready dict: `probability`, `calibrated`, `threshold`, `decision`
        (`index`, `label`, `positive`), `score`, `uncertainty` (None, or `samples`,
        `mean`, `std`, `interval` [2.5 %, 97.5 %]), `method`, `target_layers`,
        `branches`, `image` (`width`, `height` and, unless `images="none"`, `png`) and
        `heatmaps`: `"fused"` and one entry per branch, each with `overlay_png` (for
        "overlays"), `colormap_png` (unless "none") and, when asked for, `raw`.

    Raises:
        ValueError: For a `raw_size` above `MAX_RAW_SIZE` or an unknown `images`.

    Example:
        >>> answer = keras_cxr.serve.responses.explain_response(row, display, info)
        >>> answer["decision"]["label"], sorted(answer["heatmaps"])
        ('PNEUMONIA', ['b3', 'b5', 'fused'])
    """
    if images not in IMAGES:
        raise invalid_value("images", f"one of {list(IMAGES)}", images)
    index = int(row["decision"])
    classes = info["classes"]
    maps = {"fused": row["heatmap"]}
    maps.update({branch: row[f"heatmap/{branch}"] for branch in info["branches"]})
    heatmaps = {}
    for name, heatmap in maps.items():
        heatmaps[name] = _heatmap_entry(heatmap, display, raw_size, images)
    return {
        "probability": float(row["probability"]),
        "calibrated": info["calibrated"],
        "threshold": info["threshold"],
        "decision": {
            "index": index,
            "label": classes[index] if index < len(classes) else str(index),
            "positive": len(classes) <= 2 and index == 1,
        },
        "score": float(row["score"]),
        "uncertainty": _uncertainty(row.get("draws")),
        "method": info["method"],
        "target_layers": info["target_layers"],
        "branches": info["branches"],
        "image": {
            "width": int(display.shape[1]),
            "height": int(display.shape[0]),
            **({} if images == "none" else {"png": encode_png(display)}),
        },
        "heatmaps": heatmaps,
    }


def _heatmap_entry(
    heatmap: np.ndarray, display: np.ndarray, raw_size: int, images: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if images != "none":
        height, width = display.shape[:2]
        resized = cv2.resize(
            np.asarray(heatmap, np.float32), (width, height), interpolation=cv2.INTER_LINEAR
        )
        resized = np.clip(resized, 0.0, 1.0)[np.newaxis]
        if images == "overlays":
            blended = overlay(display[np.newaxis], resized, OVERLAY_ALPHA)[0]
            entry["overlay_png"] = encode_png(blended)
        entry["colormap_png"] = encode_png(colorize(resized)[0])
    if raw_size:
        entry["raw"] = raw_map(heatmap, raw_size)
    return entry


def _uncertainty(draws: np.ndarray | None) -> dict[str, Any] | None:
    if draws is None:
        return None
    draws = np.asarray(draws, np.float64)
    low, high = np.percentile(draws, [2.5, 97.5])
    return {
        "samples": int(draws.size),
        "mean": float(draws.mean()),
        "std": float(draws.std()),
        "interval": [float(low), float(high)],
        "calibrated": False,
    }
